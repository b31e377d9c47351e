--[[
Copyright 2026 sakimori authors. Licensed under the Apache License, Version 2.0.

sakimori/norm.lua — the Lua twin of sakimori/mail/norm.py (same names, same results):
normalise_domain, domain_of, registrable_domain (tldextract's algorithm over the ICANN part of
its bundled Public Suffix List, shipped as the generated psl.lua), is_domestic_tld,
network_key, infrastructure_keys, is_public_ip, plus is_global / in_networks used for
"trusted" addresses. IP networks and special-purpose ranges come from the generating Python
(unidata.lua), so both sides agree on what is "global".
]]--

-- Interpreted, never traced: LuaJIT's trace recorder aborted on this code about once per
-- mail (each abort unwinds the C stack); docs/bench.md, "item 4, fourth round".
if jit then jit.off(true, true) end

local U = require('sakimori.unicode')
local I = require('sakimori.idna')
local rspamd_ip = require 'rspamd_ip'
local M = {}

local function is_ascii(s) return not s:find('[\128-\255]') end

-- Results of pure string functions, kept per scanner process (issue 15: the same sender
-- domains and names recur from mail to mail). Bounded: a table is dropped when it holds
-- MEMO_MAX entries, and only keys up to MEMO_KEY bytes are kept. Values are stored as they
-- are (a second result in a second table), no table per entry: every live Lua object is work
-- for each of Rspamd's garbage-collection cycles, which run all the time on a busy scanner.
local MEMO_MAX, MEMO_KEY = 2048, 256
local NONE = {} -- a cached nil
function M.memo(fn)
  local first, second, n = {}, {}, 0
  return function(s)
    -- looked up first: only strings up to MEMO_KEY bytes are ever stored, so a hit needs no
    -- type or length test (reading t[nil] is no error); the memo runs ~40 times per mail
    local a = first[s]
    if a ~= nil then
      if a == NONE then a = nil end
      return a, second[s]
    end
    if type(s) ~= 'string' or #s > MEMO_KEY then return fn(s) end
    local b
    a, b = fn(s)
    if n >= MEMO_MAX then first, second, n = {}, {}, 0 end
    if a == nil then first[s] = NONE else first[s] = a end
    second[s] = b; n = n + 1
    return a, b
  end
end

-- Python: domain.strip().strip('.').lower(); '' on white space inside; IDNA when non-ASCII.
local function normalise_domain(domain)
  if type(domain) ~= 'string' or domain == '' then return '' end
  local cps = U.strip(U.decode(domain))
  local i, j = 1, #cps
  while i <= j and cps[i] == 0x2E do i = i + 1 end
  while j >= i and cps[j] == 0x2E do j = j - 1 end
  local t = {}
  for k = i, j do t[#t + 1] = cps[k] end
  t = U.lower(t)
  if #t == 0 then return '' end
  for k = 1, #t do
    if U.is_space(t[k]) then return '' end
  end
  local text = U.encode(t)
  if is_ascii(text) then return text end
  return I.to_ascii(t) or ''
end
M.normalise_domain = M.memo(normalise_domain)

-- Python: address.rsplit('@', 1)[1].strip('>').strip(), normalised.
local function domain_of(address)
  if type(address) ~= 'string' then return '' end
  local at = address:match('^.*()@')
  if not at then return '' end
  local d = address:sub(at + 1)
  d = d:gsub('^>+', ''):gsub('>+$', '')
  return M.normalise_domain(d)
end
M.domain_of = M.memo(domain_of) -- pure; called several times per mail

local LOCAL_BAD = {[0x3C] = true, [0x3E] = true, [0x5C] = true, [0x2C] = true, [0x40] = true}

-- Python norm.normalise_address: local part lower-cased, IDNA domain with a dot; '' if
-- not a usable local@domain.
local function normalise_address(address)
  if type(address) ~= 'string' or address == '' then return '' end
  local cps = U.decode(address)
  if #cps > 320 then return '' end
  cps = U.strip(cps)
  local i, j = 1, #cps
  while i <= j and (cps[i] == 0x3C or cps[i] == 0x3E) do i = i + 1 end
  while j >= i and (cps[j] == 0x3C or cps[j] == 0x3E) do j = j - 1 end
  local t = {}
  for k = i, j do t[#t + 1] = cps[k] end
  t = U.strip(t)
  local at = nil
  for k = #t, 1, -1 do
    if t[k] == 0x40 then at = k; break end
  end
  if not at or at == 1 then return '' end
  local lp, dom = {}, {}
  for k = 1, at - 1 do
    local c = t[k]
    if U.is_space(c) or c < 0x20 or LOCAL_BAD[c] then return '' end
    lp[#lp + 1] = c
  end
  for k = at + 1, #t do dom[#dom + 1] = t[k] end
  local domain = M.normalise_domain(U.encode(dom))
  if domain == '' or not domain:find('.', 1, true) then return '' end
  return U.encode(U.lower(lp)) .. '@' .. domain
end
M.normalise_address = M.memo(normalise_address)

-- The public suffix rules (tldextract.Trie) built once from psl.lua: the text of every trie
-- node ('jp', 'co.jp', '*.kawasaki.jp', '!city.kawasaki.jp', ...), and whether a rule ends
-- there, packed into PSL_BUCKETS strings ("\n<node>\t1" a rule's end, "\n<node>\t0" an inner
-- node) by a hash of the text. A few hundred objects for Rspamd's garbage collector instead of
-- one string per node (~7,000): the collector walks every live object on each of its cycles
-- (every 20-30 mails on a scanner); this and the pooled Unicode mappings (unicode.lua) cut the
-- plugin's cost by 2-3.5 points of Rspamd's CPU (docs/bench.md, "item 4, tenth round"). A
-- lookup is a plain find in a string of under a kilobyte.
local PSL_BUCKETS = 256
local byte, find, concat = string.byte, string.find, table.concat
local function psl_bucket(key) -- O(1): length, first, middle and last bytes
  local n = #key
  return (n * 7 + byte(key, 1) * 31 + byte(key, n) + byte(key, n > 1 and n - 1 or 1) * 131
      + byte(key, math.floor(n / 2) + 1) * 17) % PSL_BUCKETS + 1
end
local buckets
local function psl_buckets()
  if buckets then return buckets end
  local flat, order = {}, {}
  for rule in require('sakimori.psl').rules:gmatch('[^;]+') do
    local labels = {}
    for l in rule:gmatch('[^.]+') do labels[#labels + 1] = l end
    local key
    for k = #labels, 1, -1 do
      key = key and (labels[k] .. '.' .. key) or labels[k]
      if flat[key] == nil then flat[key] = false; order[#order + 1] = key end
    end
    if key then flat[key] = true end
  end
  local parts = {}
  for i = 1, PSL_BUCKETS do parts[i] = {''} end
  for _, key in ipairs(order) do -- the rules' order: the same strings in every process
    local part = parts[psl_bucket(key)]
    part[#part + 1] = key .. (flat[key] and '\t1' or '\t0')
  end
  local built = {}
  for i = 1, PSL_BUCKETS do built[i] = concat(parts[i], '\n') .. '\n' end
  buckets = built
  return buckets
end
-- A node's rule: true (a rule ends there), false (an inner node), nil (no node). A text with
-- a newline or tab (never a node) could match across two entries: no node.
local function psl_rule(key)
  if key == '' or find(key, '[\n\t]') then return nil end
  local text = psl_buckets()[psl_bucket(key)]
  local at = find(text, '\n' .. key .. '\t', 1, true)
  if not at then return nil end
  return byte(text, at + #key + 2) == 49 -- '1'
end

local SCHEME = '^[%w+%-.]+$'

-- tldextract.remote.lenient_netloc on an already normalised (ASCII) domain.
local function lenient_netloc(url)
  local s = url:find('//', 1, true)
  if s == 1 then
    url = url:sub(3)
  elseif s and s >= 3 and url:sub(s - 1, s - 1) == ':' and url:sub(1, s - 2):find(SCHEME) then
    url = url:sub(s + 2)
  end
  local authority = url:match('^[^/?#]*')
  local host = authority:match('([^@]*)$')
  if host:sub(1, 1) == '[' then
    local close = host:find(']', 1, true)
    if close then return host:sub(1, close) end
  end
  host = host:match('^[^:]*'):gsub('^[%s\28-\31]+', ''):gsub('[%s\28-\31]+$', '')
  return (host:gsub('%.+$', ''))
end

-- split_domain's results by text, bounded like M.memo (MEMO_MAX entries): every entry is three
-- live strings for the collector to walk, and real mail brings ever new domains.
local creg, clabel, csuffix, cache_n = {}, {}, {}, 0

-- registrable part (eTLD+1), its label and its public suffix; '' when there is none.
function M.split_domain(domain)
  local text = M.normalise_domain(domain)
  if text == '' then return '', '', '' end
  local hit = creg[text]
  if hit then return hit, clabel[text], csuffix[text] end
  local netloc = lenient_netloc(text)
  local labels = {}
  for l in (netloc .. '.'):gmatch('([^.]*)%.') do labels[#labels + 1] = l end
  local reg, label, suffix = '', '', ''
  if not (netloc:sub(1, 1) == '[' and netloc:sub(-1) == ']') then
    local idx, suffix_idx, node = #labels + 1, #labels + 1, nil
    for k = #labels, 1, -1 do
      local l = labels[k]
      local child = node and (l .. '.' .. node) or l
      local ends = psl_rule(child)
      if ends ~= nil then
        idx = idx - 1
        node = child
        if ends then suffix_idx = idx end
      else
        if psl_rule(node and ('*.' .. node) or '*') ~= nil then
          suffix_idx = psl_rule(node and ('!' .. l .. '.' .. node) or ('!' .. l)) ~= nil
              and idx or idx - 1
        end
        break
      end
    end
    if suffix_idx <= #labels then
      label = suffix_idx > 1 and labels[suffix_idx - 1] or ''
      suffix = table.concat(labels, '.', suffix_idx)
      if label ~= '' and suffix ~= '' then reg = label .. '.' .. suffix else label = '' end
    end
  end
  if cache_n >= MEMO_MAX then creg, clabel, csuffix, cache_n = {}, {}, {}, 0 end
  creg[text], clabel[text], csuffix[text] = reg, label, suffix; cache_n = cache_n + 1
  return reg, label, suffix
end

function M.registrable_domain(domain)
  return (M.split_domain(domain))
end

-- domain ends with '.' .. suffix (no new string per test: this runs several times per mail)
function M.ends_with_label(domain, suffix)
  local cut = #domain - #suffix
  return cut > 0 and domain:byte(cut) == 0x2E and domain:find(suffix, cut + 1, true) ~= nil
end

function M.is_domestic_tld(domain, tlds)
  local text = M.normalise_domain(domain)
  for _, t in ipairs(tlds or {}) do
    if text == t or M.ends_with_label(text, t) then return true end
  end
  return false
end

-- IP helpers -------------------------------------------------------------------------------

function M.parse_ip(ip)
  if ip == nil then return nil end
  if type(ip) ~= 'string' then ip = tostring(ip) end
  if #ip > 64 or ip == '' then return nil end
  -- Rspamd parses only digits and dots, or text with a ':' (IPv6, 'IPv6:', '[::1]', ports);
  -- anything else (a host name) is no address — and from_string would log a warning for it,
  -- once per Received hop of every mail.
  if not ip:find(':', 1, true) and ip:find('[^%d.]') then return nil end
  local ok, obj = pcall(rspamd_ip.from_string, ip)
  if ok and obj and obj:is_valid() then return obj end
  return nil
end

-- Parse 'a/b;c/d' or a list of CIDR strings into {version, prefix, masked address} entries.
function M.networks(spec)
  local items = {}
  if type(spec) == 'string' then
    for n in spec:gmatch('[^;]+') do items[#items + 1] = n end
  else
    for _, n in ipairs(spec or {}) do items[#items + 1] = n end
  end
  local out = {}
  for _, n in ipairs(items) do
    local addr, bits = tostring(n):match('^%s*([^/%s]+)/?(%d*)%s*$')
    local obj = addr and M.parse_ip(addr)
    if obj then
      local v = obj:get_version()
      local prefix = tonumber(bits) or (v == 4 and 32 or 128)
      out[#out + 1] = {v = v, p = prefix, s = obj:apply_mask(prefix):to_string()}
    end
  end
  return out
end

local function in_networks(obj, nets)
  local v = obj:get_version()
  for _, n in ipairs(nets) do
    if n.v == v and obj:apply_mask(n.p):to_string() == n.s then return true end
  end
  return false
end
-- A bounded memo of a function pure in (key, list), one per list in *store* (weak keys: a
-- reloaded list starts afresh); dropped when it holds MEMO_MAX entries.
local function list_memo(store, list)
  local memo = store[list]
  if not memo or memo.n >= MEMO_MAX then
    memo = {n = 0, hit = {}}
    store[list] = memo
  end
  return memo
end
local function remember(memo, key, r)
  memo.hit[key] = r; memo.n = memo.n + 1
  return r
end

-- Pure in (address, list): memoised per list, bounded; apply_mask + to_string per network
-- was the costly part of judging a hop.
local net_memo = setmetatable({}, {__mode = 'k'})
function M.in_networks(obj, nets, key)
  if not obj then return false end
  local memo = list_memo(net_memo, nets)
  key = key or obj:to_string()
  local r = memo.hit[key]
  if r == nil then r = remember(memo, key, in_networks(obj, nets)) end
  return r
end

local special
local function specials()
  if special then return special end
  local D = require('sakimori.unidata')
  special = {
    v4_private = M.networks(D.v4_private),
    v4_exc = M.networks(D.v4_private_exceptions),
    v4_public = M.networks(D.v4_public_exception),
    v6_private = M.networks(D.v6_private),
    v6_exc = M.networks(D.v6_private_exceptions),
    multicast = M.networks(D.v4_multicast .. ';' .. D.v6_multicast),
  }
  return special
end

-- ipaddress.ip_address(ip).is_global (Rspamd already unwraps IPv4-mapped IPv6).
function M.is_global(obj)
  if not obj then return false end
  local s = specials()
  if obj:get_version() == 4 then
    if M.in_networks(obj, s.v4_public) then return false end
    return not (M.in_networks(obj, s.v4_private) and not M.in_networks(obj, s.v4_exc))
  end
  return not (M.in_networks(obj, s.v6_private) and not M.in_networks(obj, s.v6_exc))
end

function M.is_public_ip(ip)
  local obj = type(ip) == 'userdata' and ip or M.parse_ip(ip)
  return M.is_global(obj) and not M.in_networks(obj, specials().multicast)
end

-- An address as text → {obj = rspamd_ip, str = canonical text, public = is_public_ip} or
-- false; pure, so memoised per process (hops and relays recur from mail to mail). The
-- returned table is shared: read it, never change it.
M.address = M.memo(function(s)
  local obj = M.parse_ip(s)
  if not obj then return false end
  return {obj = obj, str = obj:to_string(), public = M.is_public_ip(obj)}
end)

-- Python received.clean_hostname on a name of [A-Za-z0-9._-]: a plausible DNS host name
-- (lower case, no outer dots) or nil; unknown/localhost and IP literals are not names.
local NOT_NAMES = {unknown = true, localhost = true, ['localhost.localdomain'] = true}
function M.clean_hostname(text)
  if type(text) ~= 'string' then return nil end
  local name = text:lower():gsub('^%.+', ''):gsub('%.+$', '')
  if name == '' or #name > 253 or NOT_NAMES[name] or M.parse_ip(name)
      or not name:find('^[a-z0-9_]') then
    return nil
  end
  local labels = {}
  for l in (name .. '.'):gmatch('([^.]*)%.') do labels[#labels + 1] = l end
  if #labels < 2 then return nil end
  for k = 1, #labels - 1 do
    if #labels[k] > 63 or not labels[k]:find('^[a-z0-9_-]*$') then return nil end
  end
  local top = labels[#labels]
  if #top > 63 or not top:find('^[a-z0-9-]+$') or top:find('^%d+$') then return nil end
  return name
end

-- Python facts._verified_name: the PTR name in parentheses before ' by ' in a raw
-- Received value — '(name [IP])' or '(user@name [IP])' — never the HELO; nil when none.
local function vname_scan(raw)
  local text = raw:sub(1, 4096):gsub('%c', ' '):gsub('%s+', ' '):gsub('^ ', ''):sub(1, 2048)
  local by = text:find(' by ', 1, true)
  if by then text = text:sub(1, by - 1) end
  local pos = 1
  while true do
    local open = text:find('(', pos, true)
    if not open then return nil end
    pos = open + 1
    local token, ip = text:match('^%s*([^()%s]+)%s+%[([^%]]*)%]', pos)
    if token then
      local _, ats = token:gsub('@', '')
      local host = ats == 0 and token or (ats == 1 and token:match('@(.*)$')) or nil
      ip = ip:gsub('^IPv6:', '')
      if host and host:find('^[A-Za-z0-9._-]+$') and ip:find('^[0-9A-Fa-f:.]+$') then
        return M.clean_hostname(host)
      end
    end
  end
end
-- The part before ' by ' names the sending host and recurs from mail to mail (the same
-- relays); the rest (ids, dates) does not. Up to 2,048 bytes no cut of vname_scan applies, so
-- scanning only the head (from the first non-blank to the first blank-'by'-blank) is equal.
local vname_head = M.memo(vname_scan)
function M.verified_name(raw)
  if type(raw) ~= 'string' then return nil end
  if #raw > 2048 then return vname_scan(raw) end
  local start = raw:find('[^%s%c]')
  if not start then return nil end
  local by = raw:find('[%s%c]by[%s%c]', start)
  return (vname_head(raw:sub(start, by and by - 1 or -1)))
end

-- A verified name ends with one of the '.suffix' entries (networks.mail_relays).
local function has_suffix(name, suffixes)
  name = name:lower():gsub('%.+$', '')
  for _, s in ipairs(suffixes) do
    if #name > #s and name:sub(-#s) == s then return true end
  end
  return false
end
-- Pure in (name, list): memoised per list like in_networks (the sending hosts recur).
local sfx_memo = setmetatable({}, {__mode = 'k'})
function M.has_suffix(name, suffixes)
  if type(name) ~= 'string' or name == '' or not suffixes then return false end
  if #name > MEMO_KEY then return has_suffix(name, suffixes) end
  local memo = list_memo(sfx_memo, suffixes)
  local r = memo.hit[name]
  if r == nil then r = remember(memo, name, has_suffix(name, suffixes)) end
  return r
end

function M.network_key(ip)
  local obj = type(ip) == 'userdata' and ip or M.parse_ip(ip)
  if not obj then return '' end
  local prefix = obj:get_version() == 4 and 24 or 48
  return 'net:' .. obj:apply_mask(prefix):to_string() .. '/' .. prefix
end

function M.infrastructure_keys(ip, hostname)
  local keys = {}
  if ip then
    local net = M.network_key(ip)
    if net ~= '' then keys[#keys + 1] = net end
  end
  if hostname and hostname ~= '' then
    local reg = M.registrable_domain(hostname)
    if reg ~= '' then keys[#keys + 1] = 'ptr:' .. reg end
  end
  return keys
end

return M
