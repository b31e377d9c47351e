--[[
Copyright 2026 sakimori authors. Licensed under the Apache License, Version 2.0.

sakimori/unicode.lua — Unicode text handling that mirrors Python, for the sakimori plugin.

Rspamd 3.4's Lua has no normalisation and its lower_utf8 is not Python's str.lower, so this
module implements, from the tables in the generated unidata.lua:
  decode/encode UTF-8 (invalid bytes become U+FFFD), NFKC (Unicode of the generating Python,
  or the 3.2 variant IDNA 2003 uses), str.casefold, str.lower, str.isspace, and fold_name
  (== sakimori.mail.norm.fold_name: NFKC, casefold, drop white space/quotes/C*/Z*).
Tables are parsed lazily, once per process.
]]--

-- Interpreted, never traced: LuaJIT's trace recorder aborted on this code about once per
-- mail (each abort unwinds the C stack); docs/bench.md, "item 4, fourth round".
if jit then jit.off(true, true) end

local M = {}
local T -- parsed tables

-- code point → code point (a number: one code point, most entries) or, for a mapping to
-- several code points, a negative number: −(start × 32 + count), the code points being
-- POOL[start .. start + count − 1], one flat list shared by every map. Numbers are no objects
-- for Rspamd's garbage collector to walk: a list per mapping was ~2,500 live tables, marked
-- and swept on every one of the collector's cycles (docs/bench.md, "item 4, tenth round").
-- Read with M.put.
local POOL = {}
local function parse_map(s)
  local t = {}
  for k, v in s:gmatch('(%x+)=([%x ]+)') do
    local start, count = #POOL + 1, 0
    for h in v:gmatch('%x+') do POOL[#POOL + 1] = tonumber(h, 16); count = count + 1 end
    if count == 1 then
      t[tonumber(k, 16)] = POOL[start]
      POOL[start] = nil
    else
      assert(count < 32, 'a Unicode mapping of 32 or more code points') -- NFKD: at most 18
      t[tonumber(k, 16)] = -(start * 32 + count)
    end
  end
  return t
end

-- Append the mapping m of a parse_map table (a code point or a pooled list) to out.
local function put(out, m)
  if m >= 0 then
    out[#out + 1] = m
  else
    local start = math.floor(-m / 32)
    for j = start, start + (-m) % 32 - 1 do out[#out + 1] = POOL[j] end
  end
end
M.put = put

local function parse_num(s)
  local t = {}
  for k, v in s:gmatch('(%x+)=(%x+)') do t[tonumber(k, 16)] = tonumber(v, 16) end
  return t
end

local function parse_ranges(s)
  local lo, hi = {}, {}
  for a, b in s:gmatch('(%x+)-(%x+)') do
    lo[#lo + 1] = tonumber(a, 16); hi[#hi + 1] = tonumber(b, 16)
  end
  return {lo = lo, hi = hi}
end

local function tables()
  if T then return T end
  local D = require('sakimori.unidata')
  local comp = {}
  for a, b, c in D.comp:gmatch('(%x+) (%x+)=(%x+)') do
    comp[tonumber(a, 16) * 0x200000 + tonumber(b, 16)] = tonumber(c, 16)
  end
  T = {
    nfkd = parse_map(D.nfkd), nfkd32 = parse_map(D.nfkd32),
    ccc = parse_num(D.ccc), comp = comp,
    casefold = parse_map(D.casefold), lower = parse_map(D.lower),
    space = parse_ranges(D.space), drop = parse_ranges(D.drop),
    cased = parse_ranges(D.cased), case_ignorable = parse_ranges(D.case_ignorable),
    b1 = parse_ranges(D.b1), b2 = parse_map(D.b2), prohibited = parse_ranges(D.prohibited),
    randal = parse_ranges(D.randal), lcat = parse_ranges(D.lcat),
  }
  return T
end
M.tables = tables

function M.in_ranges(r, cp)
  local lo, hi = 1, #r.lo
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    if cp < r.lo[mid] then hi = mid - 1
    elseif cp > r.hi[mid] then lo = mid + 1
    else return true end
  end
  return false
end

-- UTF-8 → code points; malformed bytes (overlong, surrogate, truncated) become U+FFFD.
function M.decode(s)
  local cps, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    local cp, len, min
    if c < 0x80 then cp, len, min = c, 1, 0
    elseif c >= 0xC2 and c <= 0xDF then cp, len, min = c - 0xC0, 2, 0x80
    elseif c >= 0xE0 and c <= 0xEF then cp, len, min = c - 0xE0, 3, 0x800
    elseif c >= 0xF0 and c <= 0xF4 then cp, len, min = c - 0xF0, 4, 0x10000
    else len = 0 end
    local ok = len > 0 and i + len - 1 <= n
    if ok and len > 1 then
      for j = i + 1, i + len - 1 do
        local b = s:byte(j)
        if b < 0x80 or b > 0xBF then ok = false; break end
        cp = cp * 64 + (b - 0x80)
      end
      if ok and (cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF)) then
        ok = false
      end
    end
    if ok then
      cps[#cps + 1] = cp; i = i + len
    else
      cps[#cps + 1] = 0xFFFD; i = i + 1
    end
  end
  return cps
end

function M.encode(cps)
  local out = {}
  for k = 1, #cps do
    local cp = cps[k]
    if cp < 0x80 then out[k] = string.char(cp)
    elseif cp < 0x800 then
      out[k] = string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64)
    elseif cp < 0x10000 then
      out[k] = string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64,
          0x80 + cp % 64)
    else
      out[k] = string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
          0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
    end
  end
  return table.concat(out)
end

local SBase, LBase, VBase, TBase = 0xAC00, 0x1100, 0x1161, 0x11A7
local LCount, VCount, TCount, SCount = 19, 21, 28, 11172
local NCount = VCount * TCount

-- Python's ucd_3_2_0.normalize uses the old decompositions but the current combining
-- classes and compositions, so only decomposition has a 3.2 variant.
local function ccc_of(t, cp)
  return t.ccc[cp] or 0
end

local function compose_pair(t, a, b)
  if a >= LBase and a < LBase + LCount and b >= VBase and b < VBase + VCount then
    return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount
  end
  if a >= SBase and a < SBase + SCount and (a - SBase) % TCount == 0
      and b > TBase and b < TBase + TCount then
    return a + (b - TBase)
  end
  return t.comp[a * 0x200000 + b]
end

-- Append the compatibility decomposition of code point cp to d (NFKD of one code point,
-- before canonical ordering): Hangul syllables algorithmically, the rest from the tables t
-- (v32: the Unicode 3.2 variant used by nameprep).
local function decompose(t, d, cp, v32)
  if cp >= SBase and cp < SBase + SCount then
    local s = cp - SBase
    d[#d + 1] = LBase + math.floor(s / NCount)
    d[#d + 1] = VBase + math.floor((s % NCount) / TCount)
    if s % TCount ~= 0 then d[#d + 1] = TBase + s % TCount end
  else
    local m = (v32 and t.nfkd32[cp]) or t.nfkd[cp]
    if m then
      put(d, m)
    else
      d[#d + 1] = cp
    end
  end
end
function M.decompose(d, cp) decompose(tables(), d, cp) end

-- NFKC of a code point list (v32: the Unicode 3.2 variant used by nameprep).
function M.nfkc(cps, v32)
  local t = tables()
  local d = {}
  for k = 1, #cps do decompose(t, d, cps[k], v32) end
  -- canonical ordering: stable insertion sort of each run of non-starters
  for k = 2, #d do
    local c = ccc_of(t, d[k])
    if c ~= 0 then
      local j, cp = k, d[k]
      while j > 1 do
        local p = ccc_of(t, d[j - 1])
        if p == 0 or p <= c then break end
        d[j] = d[j - 1]; j = j - 1
      end
      d[j] = cp
    end
  end
  -- canonical composition
  if #d == 0 then return d end
  local out = {d[1]}
  local starter = 1
  local last = ccc_of(t, d[1])
  if last ~= 0 then last = 256 end
  for k = 2, #d do
    local cp = d[k]
    local c = ccc_of(t, cp)
    local composite = compose_pair(t, out[starter], cp)
    if composite and (last < c or last == 0) then
      out[starter] = composite
    else
      if c == 0 then starter = #out + 1 end
      last = c
      out[#out + 1] = cp
    end
  end
  return out
end

local function map_each(cps, map)
  local out = {}
  for k = 1, #cps do
    local m = map[cps[k]]
    if m then
      put(out, m)
    else
      out[#out + 1] = cps[k]
    end
  end
  return out
end

function M.casefold(cps) return map_each(cps, tables().casefold) end

-- Final_Sigma: cased (case-ignorable)* Σ not followed by (case-ignorable)* cased.
local function final_sigma(t, cps, i)
  local j = i - 1
  while j >= 1 and M.in_ranges(t.case_ignorable, cps[j]) do j = j - 1 end
  local fs = j >= 1 and M.in_ranges(t.cased, cps[j])
  if fs and i < #cps then
    j = i + 1
    while j <= #cps and M.in_ranges(t.case_ignorable, cps[j]) do j = j + 1 end
    fs = j > #cps or not M.in_ranges(t.cased, cps[j])
  end
  return fs
end

-- Python's str.lower: per-character mapping plus the Final_Sigma rule for U+03A3.
function M.lower(cps)
  local t = tables()
  local out = {}
  for i = 1, #cps do
    local cp = cps[i]
    if cp == 0x03A3 then
      out[#out + 1] = final_sigma(t, cps, i) and 0x03C2 or 0x03C3
    else
      local m = t.lower[cp]
      if m then
        put(out, m)
      else
        out[#out + 1] = cp
      end
    end
  end
  return out
end
function M.is_space(cp) return M.in_ranges(tables().space, cp) end

-- str.strip(): white space removed at both ends (code point lists).
function M.strip(cps)
  local i, j = 1, #cps
  while i <= j and M.is_space(cps[i]) do i = i + 1 end
  while j >= i and M.is_space(cps[j]) do j = j - 1 end
  local out = {}
  for k = i, j do out[#out + 1] = cps[k] end
  return out
end

-- norm.fold_name: returns the folded UTF-8 string and its length in code points.
local function fold_name(name)
  if type(name) ~= 'string' or name == '' then return '', 0 end
  local t = tables()
  local cps = M.casefold(M.nfkc(M.decode(name)))
  local out = {}
  for k = 1, #cps do
    if not M.in_ranges(t.drop, cps[k]) then out[#out + 1] = cps[k] end
  end
  return M.encode(out), #out
end
-- pure: memoised per process, bounded, no table per entry (as norm.memo)
local fold_s, fold_c, fold_n = {}, {}, 0
function M.fold_name(name)
  if type(name) ~= 'string' or #name > 256 then return fold_name(name) end
  local hit = fold_s[name]
  if hit then return hit, fold_c[name] end
  local folded, n = fold_name(name)
  if fold_n >= 2048 then fold_s, fold_c, fold_n = {}, {}, 0 end
  fold_s[name], fold_c[name] = folded, n; fold_n = fold_n + 1
  return folded, n
end

return M
