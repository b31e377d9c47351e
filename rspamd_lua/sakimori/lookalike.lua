--[[
Copyright 2026 sakimori authors. Licensed under the Apache License, Version 2.0.

sakimori/lookalike.lua — check 5 of docs/mail-checks.md: is a sender domain a look-alike of a
protected domain? Methods, tried in this order for each protected domain (sorted):
  edit      same public suffix, optimal-string-alignment (restricted Damerau-Levenshtein)
            distance of the labels 1..max, protected label at least 4 characters;
  homoglyph equal skeletons (xn-- decoded, NFKD without combining marks, confusables mapped
            to Latin, 0→o 1→l, then rn→m vv→w) but different domains;
  suffix    same label, different public suffix;
  hyphen    the protected label (≥ 4 characters) is a whole '-'/'.'-separated token of the
            sender domain left of its suffix, or the protected domain with dots as '-' is
            embedded there, or the sender domain contains the protected domain as a non-suffix
            part (example.co.jp.evil.net).
]]--

-- Interpreted, never traced: LuaJIT's trace recorder aborted on this code about once per
-- mail (each abort unwinds the C stack); docs/bench.md, "item 4, fourth round".
if jit then jit.off(true, true) end

local U = require('sakimori.unicode')
local I = require('sakimori.idna')
local N = require('sakimori.norm')
local M = {}

-- Look-alikes mapped to Latin (lower case only: IDNA has lower-cased everything).
M.CONFUSABLES = {
  -- Cyrillic
  [0x0430] = 'a', [0x0435] = 'e', [0x0451] = 'e', [0x04BB] = 'h', [0x0456] = 'i',
  [0x0457] = 'i', [0x0458] = 'j', [0x043A] = 'k', [0x04CF] = 'l', [0x043E] = 'o',
  [0x0440] = 'p', [0x0441] = 'c', [0x0455] = 's', [0x0443] = 'y', [0x0445] = 'x',
  [0x0501] = 'd', [0x051B] = 'q', [0x051D] = 'w', [0x0461] = 'w', [0x044C] = 'b',
  -- Greek
  [0x03B1] = 'a', [0x03B3] = 'y', [0x03B9] = 'i', [0x03BA] = 'k', [0x03BD] = 'v',
  [0x03BF] = 'o', [0x03C1] = 'p', [0x03C4] = 't', [0x03C5] = 'u', [0x03C7] = 'x',
  [0x03C9] = 'w',
  -- Latin
  [0x0131] = 'i', [0x0251] = 'a', [0x0261] = 'g', [0x0269] = 'i', [0x028F] = 'y',
  -- digits
  [0x30] = 'o', [0x31] = 'l',
}

function M.skeleton(domain)
  local t = U.tables()
  local cps = U.decode(I.to_unicode(domain))
  local out, d = {}, {} -- d: one code point's decomposition, refilled per code point
  for _, cp in ipairs(cps) do
    for k = #d, 1, -1 do d[k] = nil end
    U.decompose(d, cp) -- NFKD, Hangul syllables included, as Python's unicodedata
    for _, c in ipairs(d) do
      if not t.ccc[c] then
        local m = M.CONFUSABLES[c]
        out[#out + 1] = m or U.encode({c})
      end
    end
  end
  local s = table.concat(out)
  s = s:gsub('rn', 'm'):gsub('vv', 'w')
  return s
end

-- Optimal string alignment distance (byte strings; labels are ASCII after IDNA).
function M.osa(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local d = {}
  for i = 0, la do d[i] = {[0] = i} end
  for j = 0, lb do d[0][j] = j end
  for i = 1, la do
    local ai = a:byte(i)
    for j = 1, lb do
      local cost = (ai == b:byte(j)) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and ai == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[la][lb]
end

-- One protected domain, prepared once per map load.
function M.prepare(reg)
  local r, label, suffix = N.split_domain(reg)
  if r == '' then return nil end
  return {reg = r, label = label, suffix = suffix, skel = M.skeleton(r),
          dashed = r:gsub('%.', '-')}
end

local function plain_find(hay, needle)
  return hay:find(needle, 1, true) ~= nil
end

local function hyphen(domain, left, p)
  if #p.label >= 4 then
    for token in left:gmatch('[^.-]+') do
      if token == p.label then return true end
    end
  end
  if plain_find(left, p.dashed) then return true end
  return plain_find('.' .. domain .. '.', '.' .. p.reg .. '.')
end

-- domain: the normalised sender domain; prepared: sorted list from M.prepare.
-- Returns like, how — or nil.
local function match(domain, prepared, max_distance)
  local reg, label, suffix = N.split_domain(domain)
  if reg == '' then return nil end
  local skel = M.skeleton(reg)
  local left = domain:sub(1, #domain - #suffix - 1)
  for _, p in ipairs(prepared) do
    if suffix == p.suffix and #p.label >= 4 and math.abs(#label - #p.label) <= max_distance then
      local dist = M.osa(label, p.label)
      if dist > 0 and dist <= max_distance then return p.reg, 'edit' end
    end
    if skel == p.skel and reg ~= p.reg then return p.reg, 'homoglyph' end
    if label == p.label and suffix ~= p.suffix then return p.reg, 'suffix' end
    if hyphen(domain, left, p) then return p.reg, 'hyphen' end
  end
  return nil
end

-- match() is pure for one prepared list (a map reload makes a new one): memoised per list.
local memo_list, memo_max, memo_fn
function M.match(domain, prepared, max_distance)
  if prepared ~= memo_list or max_distance ~= memo_max then
    memo_list, memo_max = prepared, max_distance
    memo_fn = N.memo(function(d) return match(d, prepared, max_distance) end)
  end
  return memo_fn(domain)
end

return M
