--[[
Copyright 2026 sakimori authors. Licensed under the Apache License, Version 2.0.

sakimori/idna.lua — IDNA 2003 ToASCII and Punycode, mirroring Python's "idna" codec
(encodings.idna: nameprep with stringprep tables B.1, B.2, NFKC 3.2, prohibited C.*, bidi
D.1/D.2; labels split on . U+3002 U+FF0E U+FF61; ACE prefix xn--; labels 1..63 octets).
Python raises on failure; here nil is returned.
]]--

-- Interpreted, never traced: LuaJIT's trace recorder aborted on this code about once per
-- mail (each abort unwinds the C stack); docs/bench.md, "item 4, fourth round".
if jit then jit.off(true, true) end

local U = require('sakimori.unicode')
local M = {}

local BASE, TMIN, TMAX, SKEW, DAMP, IBIAS, IN = 36, 1, 26, 38, 700, 72, 128

local function adapt(delta, numpoints, first)
  delta = first and math.floor(delta / DAMP) or math.floor(delta / 2)
  delta = delta + math.floor(delta / numpoints)
  local k = 0
  while delta > math.floor(((BASE - TMIN) * TMAX) / 2) do
    delta = math.floor(delta / (BASE - TMIN))
    k = k + BASE
  end
  return k + math.floor(((BASE - TMIN + 1) * delta) / (delta + SKEW))
end

local function digit(d)
  if d < 26 then return string.char(97 + d) end
  return string.char(22 + d) -- 26..35 -> '0'..'9'
end

-- RFC 3492 encoding of a code point list (without the ACE prefix).
function M.punycode_encode(cps)
  local out = {}
  for k = 1, #cps do
    if cps[k] < 128 then out[#out + 1] = string.char(cps[k]) end
  end
  local b = #out
  local h = b
  if b > 0 then out[#out + 1] = '-' end
  local n, delta, bias = IN, 0, IBIAS
  while h < #cps do
    local m = math.huge
    for k = 1, #cps do
      if cps[k] >= n and cps[k] < m then m = cps[k] end
    end
    delta = delta + (m - n) * (h + 1)
    n = m
    for k = 1, #cps do
      local c = cps[k]
      if c < n then delta = delta + 1 end
      if c == n then
        local q, kk = delta, BASE
        while true do
          local t = kk <= bias and TMIN or (kk >= bias + TMAX and TMAX or kk - bias)
          if q < t then break end
          out[#out + 1] = digit(t + (q - t) % (BASE - t))
          q = math.floor((q - t) / (BASE - t))
          kk = kk + BASE
        end
        out[#out + 1] = digit(q)
        bias = adapt(delta, h + 1, h == b)
        delta = 0
        h = h + 1
      end
    end
    delta = delta + 1
    n = n + 1
  end
  return table.concat(out)
end

local function digit_value(c)
  if c >= 48 and c <= 57 then return c - 22 end
  if c >= 65 and c <= 90 then return c - 65 end
  if c >= 97 and c <= 122 then return c - 97 end
  return nil
end

-- RFC 3492 decoding (without the ACE prefix) → code point list, or nil.
function M.punycode_decode(s)
  local out = {}
  local last = 0
  for k = 1, #s do
    if s:byte(k) == 45 then last = k end
  end
  for k = 1, last - 1 do
    local c = s:byte(k)
    if c >= 128 then return nil end
    out[#out + 1] = c
  end
  local n, i, bias = IN, 0, IBIAS
  local pos = last + 1
  while pos <= #s do
    local oldi, w, kk = i, 1, BASE
    while true do
      if pos > #s then return nil end
      local dv = digit_value(s:byte(pos)); pos = pos + 1
      if not dv then return nil end
      i = i + dv * w
      local t = kk <= bias and TMIN or (kk >= bias + TMAX and TMAX or kk - bias)
      if dv < t then break end
      w = w * (BASE - t)
      kk = kk + BASE
      if i > 0x10FFFF * 64 then return nil end
    end
    bias = adapt(i - oldi, #out + 1, oldi == 0)
    n = n + math.floor(i / (#out + 1))
    i = i % (#out + 1)
    if n > 0x10FFFF then return nil end
    table.insert(out, i + 1, n)
    i = i + 1
  end
  return out
end

local function is_ascii(cps)
  for k = 1, #cps do
    if cps[k] >= 128 then return false end
  end
  return true
end

local function nameprep(cps)
  local t = U.tables()
  local mapped = {}
  for k = 1, #cps do
    local cp = cps[k]
    if not U.in_ranges(t.b1, cp) then
      local m = t.b2[cp]
      if m then
        U.put(mapped, m)
      else
        mapped[#mapped + 1] = cp
      end
    end
  end
  local label = U.nfkc(mapped, true)
  local randal, lcat = false, false
  for k = 1, #label do
    if U.in_ranges(t.prohibited, label[k]) then return nil end
    if U.in_ranges(t.randal, label[k]) then randal = true end
    if U.in_ranges(t.lcat, label[k]) then lcat = true end
  end
  if randal then
    if lcat then return nil end
    if not (U.in_ranges(t.randal, label[1]) and U.in_ranges(t.randal, label[#label])) then
      return nil
    end
  end
  return label
end

function M.label_to_ascii(cps)
  if is_ascii(cps) then
    if #cps > 0 and #cps < 64 then return U.encode(cps) end
    return nil
  end
  local label = nameprep(cps)
  if not label then return nil end
  if is_ascii(label) then
    if #label > 0 and #label < 64 then return U.encode(label) end
    return nil
  end
  local text = U.encode(label)
  if text:sub(1, 4):lower() == 'xn--' then return nil end
  local ace = 'xn--' .. M.punycode_encode(label)
  if #ace > 0 and #ace < 64 then return ace end
  return nil
end

local DOTS = {[0x2E] = true, [0x3002] = true, [0xFF0E] = true, [0xFF61] = true}

-- Python: text.encode("idna") for a non-ASCII domain; nil where Python raises.
function M.to_ascii(cps)
  local labels, cur = {}, {}
  for k = 1, #cps do
    if DOTS[cps[k]] then
      labels[#labels + 1] = cur; cur = {}
    else
      cur[#cur + 1] = cps[k]
    end
  end
  labels[#labels + 1] = cur
  local trailing = ''
  if #labels > 0 and #labels[#labels] == 0 then
    trailing = '.'
    labels[#labels] = nil
  end
  local out = {}
  for k = 1, #labels do
    local a = M.label_to_ascii(labels[k])
    if not a then return nil end
    out[#out + 1] = a
  end
  return table.concat(out, '.') .. trailing
end

-- xn-- labels decoded to Unicode (undecodable labels are kept as they are).
function M.to_unicode(domain)
  local out = {}
  for label in (domain .. '.'):gmatch('([^.]*)%.') do
    if label:sub(1, 4) == 'xn--' then
      local cps = M.punycode_decode(label:sub(5))
      out[#out + 1] = cps and U.encode(cps) or label
    else
      out[#out + 1] = label
    end
  end
  return table.concat(out, '.')
end

return M
