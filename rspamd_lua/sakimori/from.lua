--[[
Copyright 2026 sakimori authors. Licensed under the Apache License, Version 2.0.

sakimori/from.lua — the header From as the reader sees it (docs/mail-checks.md, "Displayed
From"); the Lua twin of sakimori/mail/fromhdr.py (same vectors, same fuzz corpus):

  M.one_line(value)          → first 4096 code points, controls/white space as ' ', stripped
  M.displayed(raw, decoded)  → displayed address, {other address-like text...}
  M.address_like(text)       → every local@domain in free text, in order
  M.from_domains(shown, strict) → the From domains the checks judge, with their evidence

Works on code points (sakimori/unicode.lua); structural characters are ASCII. Never raises on
strings; bounded (MAX_FROM code points, MAX_OTHERS results).
]]--

-- Interpreted, never traced: LuaJIT's trace recorder aborted on this code about once per
-- mail (each abort unwinds the C stack); docs/bench.md, "item 4, fourth round".
if jit then jit.off(true, true) end

local U = require('sakimori.unicode')
local N = require('sakimori.norm')
local M = {}

local MAX_FROM, MAX_OTHERS, MAX_ADDR = 4096, 8, 320
M.MAX_FROM, M.MAX_OTHERS = MAX_FROM, MAX_OTHERS

local function set(s)
  local t = {}
  for k = 1, #s do t[s:byte(k)] = true end
  return t
end
local WORD_END = set('"(<>,;:)')
local LOCAL_END = set('<>()[]",;:\\@')
local PUNCT = {[0xAB] = true, [0xBB] = true, [0x3001] = true, [0xFF08] = true,
               [0xFF09] = true, [0xFF0C] = true, [0xFF1A] = true, [0xFF1B] = true,
               [0xFF1C] = true, [0xFF1E] = true, [0xFF3B] = true, [0xFF3D] = true,
               [0xFF5B] = true, [0xFF5D] = true, [0xFF62] = true, [0xFF63] = true}
for c = 0x2018, 0x201F do PUNCT[c] = true end
for c = 0x3008, 0x3011 do PUNCT[c] = true end
for c = 0x3014, 0x301B do PUNCT[c] = true end

local AT, DQ, BS, LT, GT, LP, RP = 0x40, 0x22, 0x5C, 0x3C, 0x3E, 0x28, 0x29

local function is_space(cp)
  return cp < 0x20 or cp == 0x7F or U.is_space(cp)
end

local function domain_char(cp)
  if cp < 0x80 then
    return (cp >= 0x30 and cp <= 0x39) or (cp >= 0x41 and cp <= 0x5A)
        or (cp >= 0x61 and cp <= 0x7A) or cp == 0x2D or cp == 0x2E or cp == 0x5F
  end
  return not is_space(cp) and not PUNCT[cp]
end

local function local_char(cp)
  return not is_space(cp) and not (cp < 0x80 and LOCAL_END[cp]) and not PUNCT[cp]
end

local function sub(cps, i, j)
  local t = {}
  for k = i, j do t[#t + 1] = cps[k] end
  return t
end

-- Python fromhdr.usable: non-empty local part, '@', a domain that normalises.
local function usable(addr)
  local at = addr:match('^.*()@')
  return at ~= nil and at > 1 and N.domain_of(addr) ~= ''
end
M.usable = usable

-- Python fromhdr.one_line (the caller passes the value as written).
function M.one_line(value)
  if type(value) ~= 'string' then return '' end
  local cps = U.decode(value:sub(1, MAX_FROM * 4))
  local t = {}
  for k = 1, math.min(#cps, MAX_FROM) do
    t[k] = is_space(cps[k]) and 0x20 or cps[k]
  end
  return U.encode(U.strip(t))
end

local function address_like_cps(cps, out, limit)
  local n = #cps
  for at = 1, n do
    if #out >= limit then break end
    if cps[at] == AT then
      local i = at
      while i > 1 and local_char(cps[i - 1]) do i = i - 1 end
      local k = at
      while k < n and domain_char(cps[k + 1]) do k = k + 1 end
      local j = k
      while j > at and cps[j] == 0x2E do j = j - 1 end -- rstrip('.')
      if i < at and j > at then
        local dom = U.encode(sub(cps, at + 1, j))
        if N.normalise_domain(dom):find('.', 1, true) then
          local text = U.encode(sub(cps, i, j))
          local cut = U.decode(text)
          if #cut > MAX_ADDR then text = U.encode(sub(cut, 1, MAX_ADDR)) end
          out[#out + 1] = text
        end
      end
    end
  end
  return out
end

function M.address_like(text)
  return address_like_cps(U.decode(text), {}, MAX_OTHERS * 2)
end

local function skip_quoted(cps, i)
  local n = #cps
  i = i + 1
  while i <= n do
    if cps[i] == BS then i = i + 2
    elseif cps[i] == DQ then return i + 1
    else i = i + 1 end
  end
  return n + 1
end

local function skip_comment(cps, i)
  local n, depth = #cps, 0
  while i <= n do
    local c = cps[i]
    if c == BS then
      i = i + 2
    else
      if c == LP then depth = depth + 1 elseif c == RP then depth = depth - 1 end
      i = i + 1
      if depth == 0 then return i end
    end
  end
  return n + 1
end

local function clean_angle(cps)
  local t = {}
  for _, c in ipairs(cps) do
    if c ~= DQ and not is_space(c) then t[#t + 1] = c end
  end
  return U.encode(t)
end

-- {angle = cps|nil, words = {string...}} per mailbox (Python fromhdr._segments).
local function segments(cps)
  local segs, angle, words, word = {}, nil, {}, {}
  local i, n = 1, #cps
  local function flush()
    if #word > 0 then words[#words + 1] = U.encode(word); word = {} end
  end
  while i <= n do
    local c = cps[i]
    if is_space(c) or (c < 0x80 and WORD_END[c]) then
      flush()
      if c == DQ then
        i = skip_quoted(cps, i)
      elseif c == LP then
        i = skip_comment(cps, i)
      elseif c == LT then
        local e = i + 1
        while e <= n and cps[e] ~= GT do e = e + 1 end
        if angle == nil then angle = sub(cps, i + 1, e - 1) end
        i = e + 1
      else
        if c == 0x2C or c == 0x3B then
          segs[#segs + 1] = {angle = angle, words = words}
          angle, words = nil, {}
        end
        i = i + 1
      end
    else
      word[#word + 1] = c
      i = i + 1
    end
  end
  flush()
  segs[#segs + 1] = {angle = angle, words = words}
  return segs
end

local function mailbox_address(seg)
  if seg.angle then
    local addr = clean_angle(seg.angle)
    if usable(addr) then return addr end
  end
  for _, w in ipairs(seg.words) do
    if usable(w) then return w end
  end
  return ''
end

local function lower(s) return U.encode(U.lower(U.decode(s))) end
M.lower = lower

-- The displayed address (from raw, as written, alone) and the other address-like texts of
-- one From value (decoded: RFC 2047 words decoded, searched for address-like text only).
function M.displayed(raw, decoded)
  local rc = U.decode(tostring(raw or ''):sub(1, MAX_FROM * 4))
  if #rc > MAX_FROM then rc = sub(rc, 1, MAX_FROM) end
  local shown = ''
  for _, seg in ipairs(segments(rc)) do
    shown = mailbox_address(seg)
    if shown ~= '' then break end
  end
  local found = address_like_cps(rc, {}, MAX_OTHERS * 2)
  if shown == '' and #found > 0 then shown = found[1] end
  local sc = U.decode(shown)
  if #sc > MAX_ADDR then shown = U.encode(sub(sc, 1, MAX_ADDR)) end
  local dc = U.decode(tostring(decoded or ''):sub(1, MAX_FROM * 4))
  if #dc > MAX_FROM then dc = sub(dc, 1, MAX_FROM) end
  if U.encode(dc) ~= U.encode(rc) then
    local more = address_like_cps(dc, {}, MAX_OTHERS * 2)
    for _, t in ipairs(more) do found[#found + 1] = t end
  end
  local seen, others = {[lower(shown)] = true}, {}
  for _, t in ipairs(found) do
    local key = lower(t)
    if not seen[key] and #others < MAX_OTHERS then
      seen[key] = true
      others[#others + 1] = t
    end
  end
  return shown, others
end

-- The From domains the checks judge, each with its evidence (Python fromhdr.from_domains):
-- {{domain, evidence}, ...}; both, with parse=displayed/parse=strict, when they differ.
function M.from_domains(shown, strict)
  local ds, dt = N.domain_of(shown), N.domain_of(strict)
  if ds ~= '' and dt ~= '' and ds ~= dt then
    return {{ds, 'parse=displayed'}, {dt, 'parse=strict'}}
  end
  local d = ds ~= '' and ds or dt
  if d ~= '' then return {{d, ''}} end
  return {}
end

return M
