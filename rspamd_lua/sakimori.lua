--[[
Copyright 2026 sakimori authors

Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file
except in compliance with the License. You may obtain a copy of the License at
http://www.apache.org/licenses/LICENSE-2.0 — distributed on an "AS IS" BASIS, WITHOUT
WARRANTIES OR CONDITIONS OF ANY KIND.
]]--

--[[[
-- @module sakimori
-- Spoofed-mail checks of the sakimori early-warning system (docs/mail-checks.md):
-- SAKIMORI_INTERNAL_SPOOF, SAKIMORI_DOMESTIC_VIA_OVERSEAS, SAKIMORI_NEW_INFRASTRUCTURE,
-- SAKIMORI_DISPLAY_NAME_SPOOF, SAKIMORI_LOOKALIKE_DOMAIN and SAKIMORI_HEADER_MISMATCH, each
-- with its evidence in the options. Learned data arrives in maps written by
-- `sakimori generate` (reloaded by Rspamd without restart); the check logic lives in
-- sakimori/*.lua next to this file. Callbacks never throw: mail flow never stops.
--]]

local N = 'sakimori'

-- Interpreted, never traced: LuaJIT's trace recorder aborted on this code about once per
-- mail (each abort unwinds the C stack); docs/bench.md, "item 4, fourth round".
if jit then jit.off(true, true) end

if confighelp then
  rspamd_config:add_example(nil, N,
      'Spoofed-mail checks of sakimori (settings and maps are written by `sakimori generate`)',
      [[
sakimori {
  # our own sender domains
  internal_domains = ["example.co.jp"];
  # our hosts and own relays (CIDR)
  trusted_networks = ["10.0.0.0/8"];
  # provider relays, by the verified (PTR) name of a hop
  relay_suffixes = [".google.com"];
  # the country whose senders are domestic
  domestic_country = "JP";
  # top-level domains that are domestic
  domestic_tlds = ["jp"];
  # messages a sender domain needs before new infrastructure is flagged
  new_infra_min_history = 5;
  # shortest protected display name
  display_name_min_length = 3;
  # edit distance of a look-alike domain (0-3)
  lookalike_max_distance = 1;
  # X-Sakimori: <symbols> on flagged mail
  tag_header = true;
  # subject prefix for flagged mail ("" = none)
  tag_subject = "";
  # learned data written by sakimori generate (docs/mail-checks.md)
  maps {
    # radix map: CIDR country
    country = "$LOCAL_CONFDIR/maps/sakimori_country.map";
    # hash map: domain messages
    history = "$LOCAL_CONFDIR/maps/sakimori_history.map";
  }
}
]])
  return
end

local rspamd_logger = require 'rspamd_logger'
local lua_util = require 'lua_util'
local lua_maps = require 'lua_maps'
local rspamd_util = require 'rspamd_util'
local ts = require('tableshape').types

local settings = {
  enabled = true,
  lib_dir = nil, -- directory holding sakimori/*.lua (default: next to this file)
  internal_domains = {},
  trusted_networks = {}, -- networks.home + the CIDRs of networks.mail_relays (own)
  relay_suffixes = {}, -- the '.suffix' entries of networks.mail_relays (verified names)
  domestic_country = 'JP',
  domestic_tlds = {},
  new_infra_min_history = 5,
  display_name_min_length = 3,
  lookalike_max_distance = 1,
  tag_header = true,
  header_name = 'X-Sakimori',
  tag_subject = '',
  max_option_length = 128,
  -- diagnostics for tests (override.d/sakimori.conf): SAKIMORI_FROM, score 0, with options
  -- shown=<displayed From domain> strict=<strict From domain> name=<folded name> other=<d>...
  expose_from = false,
  maps = {}, -- country infra history domestic protected known names relays → file paths
  scores = {
    SAKIMORI_INTERNAL_SPOOF = 6.0,
    SAKIMORI_DOMESTIC_VIA_OVERSEAS = 3.0,
    SAKIMORI_NEW_INFRASTRUCTURE = 2.0,
    SAKIMORI_DISPLAY_NAME_SPOOF = 5.0,
    SAKIMORI_LOOKALIKE_DOMAIN = 5.0,
    SAKIMORI_HEADER_MISMATCH = 2.0,
  },
  descriptions = {
    SAKIMORI_INTERNAL_SPOOF = 'Internal sender domain on mail that entered from outside',
    SAKIMORI_DOMESTIC_VIA_OVERSEAS = 'Domestic sender domain relayed through another country',
    SAKIMORI_NEW_INFRASTRUCTURE = 'Known sender domain from never-seen sending infrastructure',
    SAKIMORI_DISPLAY_NAME_SPOOF = 'Protected display name on an address that is not theirs',
    SAKIMORI_LOOKALIKE_DOMAIN = 'Sender domain imitates an internal or frequent domain',
    SAKIMORI_HEADER_MISMATCH = 'Reply-To/envelope domain differs from a suspicious From',
  },
}

-- The settings schema (tableshape, as Rspamd's own plugins): types, ranges, no unknown keys.
-- A number may be written as a string ("5"); a list of one may be a bare string.
local function num(lo, hi)
  return (ts.number + ts.string / tonumber * ts.number) * ts.range(lo, hi)
end
local str_list = ts.array_of(ts.string) + ts.string / function(s) return {s} end
local map_names = {'country', 'infra', 'history', 'domestic', 'protected', 'known', 'names',
                   'relays'}
local maps_shape = {}
for _, m in ipairs(map_names) do maps_shape[m] = ts.string:is_optional() end
local settings_schema = ts.shape({
  enabled = ts.boolean,
  lib_dir = ts.string:is_optional(),
  internal_domains = str_list,
  trusted_networks = str_list,
  relay_suffixes = str_list,
  domestic_country = ts.string / string.upper * ts.pattern('^%u%u$'):describe('two letters'),
  domestic_tlds = str_list,
  new_infra_min_history = num(1, 1e9),
  display_name_min_length = num(1, 1000),
  lookalike_max_distance = num(0, 3),
  tag_header = ts.boolean,
  header_name = ts.pattern('^[%w-]+$'):describe('a header name'),
  tag_subject = ts.string,
  max_option_length = num(16, 4096),
  expose_from = ts.boolean,
  maps = ts.shape(maps_shape),
  scores = ts.map_of(ts.string, num(-1000, 1000)),
  descriptions = ts.map_of(ts.string, ts.string),
})

-- One line naming the bad key: tableshape says 'field "a": field "b": <problem>'.
local function bad_setting(err, given)
  local path, value, rest = {}, given, tostring(err)
  while true do
    local key, tail = rest:match('^field "([^"]+)": (.*)$')
    if not key then break end
    path[#path + 1] = key
    value = type(value) == 'table' and value[key] or nil
    rest = tail
  end
  local extra = rest:match('^extra fields: "([^"]+)"')
  if extra then
    path[#path + 1] = extra
    value = type(value) == 'table' and value[extra] or nil
    rest = 'unknown setting'
  end
  rspamd_logger.errx(rspamd_config, '%s: bad %s = %s (%s); disabling the module', N,
      #path > 0 and table.concat(path, '.') or 'settings', value, rest)
end

local opts = rspamd_config:get_all_opt(N)
if not opts then
  rspamd_logger.infox(rspamd_config, 'module %s is not configured, disabling it', N)
  lua_util.disable_module(N, 'config')
  return
end
settings = lua_util.override_defaults(settings, opts)
if settings.enabled == false then
  lua_util.disable_module(N, 'config')
  return
end
do
  local checked, err = settings_schema:transform(settings)
  if not checked then
    bad_setting(err, settings)
    lua_util.disable_module(N, 'config')
    return
  end
  settings = checked
end

-- The modules sakimori/*.lua are loaded with require: their directory (lib_dir, default next
-- to this file) is appended to package.path, after Rspamd's own lualib, so it shadows nothing.
local function plugin_dir()
  local ok, info = pcall(debug.getinfo, 1, 'S')
  local src = ok and info and info.source or ''
  return src:match('^@(.*)/[^/]*$') or '.'
end
local lib_dir = settings.lib_dir or plugin_dir()
do
  local entry = lib_dir .. '/?.lua'
  if not package.path:find(entry, 1, true) then
    package.path = package.path .. ';' .. entry
  end
end

local ok_load, mods = pcall(function()
  return {checks = require('sakimori.checks'), norm = require('sakimori.norm'),
          lookalike = require('sakimori.lookalike'), unicode = require('sakimori.unicode'),
          from = require('sakimori.from')}
end)
if not ok_load then
  rspamd_logger.errx(rspamd_config, '%s: cannot load %s/sakimori/*.lua (%s); disabling the module',
      N, lib_dir, mods)
  lua_util.disable_module(N, 'fail')
  return
end
local checks, norm, lookalike = mods.checks, mods.norm, mods.lookalike
local unicode, from_hdr = mods.unicode, mods.from

local cfg = {
  internal_domains = {}, domestic_tlds = {},
  trusted = norm.networks(settings.trusted_networks),
  relay_suffixes = {},
  domestic_country = settings.domestic_country,
  new_infra_min_history = settings.new_infra_min_history,
  display_name_min_length = settings.display_name_min_length,
  lookalike_max_distance = settings.lookalike_max_distance,
}
for _, d in ipairs(settings.internal_domains) do
  local n = norm.normalise_domain(d)
  if n ~= '' then cfg.internal_domains[#cfg.internal_domains + 1] = n end
end
for _, sfx in ipairs(settings.relay_suffixes) do
  local t = sfx:lower():gsub('%.+$', '')
  if t:find('^%.[^.]') then cfg.relay_suffixes[#cfg.relay_suffixes + 1] = t end
end
for _, t in ipairs(settings.domestic_tlds) do
  cfg.domestic_tlds[#cfg.domestic_tlds + 1] = t:lower():gsub('^%.+', '')
end

-- Maps ----------------------------------------------------------------------------------------

-- Native maps through lua_maps (Rspamd's helper: shared with any other user of the same file).
local maps_cfg = settings.maps
local function native_map(name, mtype)
  if not maps_cfg[name] then return nil end
  local map = lua_maps.map_add_from_ucl(maps_cfg[name], mtype, 'sakimori ' .. name .. ' map')
  if not map then
    rspamd_logger.errx(rspamd_config, '%s: cannot add map %s (%s); its check sees no data', N,
        name, maps_cfg[name])
  end
  return map
end

-- Callback maps are parsed here: '#' is data in names, and the lookalike check iterates.
-- (lua_maps.map_add_from_ucl of Rspamd 3.4 takes no callback, so these use add_map directly.)
local protected_set, protected_list, names = {}, {}, {}
local function lines_of(data)
  local out = {}
  for line in tostring(data or ''):gmatch('[^\r\n]+') do
    if not (line:find('^#%s') or line == '#') then -- '#' alone starts no comment: names
      local k, v = line:match('^%s*(%S+)%s*(.-)%s*$')
      if k then out[#out + 1] = {k, v} end
    end
  end
  return out
end
local function callback_map(name, fn)
  if not maps_cfg[name] then return end
  rspamd_config:add_map({type = 'callback', url = maps_cfg[name],
    description = 'sakimori ' .. name .. ' map',
    callback = function(data)
      local ok, err = pcall(fn, lines_of(data))
      if not ok then rspamd_logger.errx(rspamd_config, '%s: map %s: %s', N, name, err) end
    end})
end
callback_map('protected', function(rows)
  local set, list = {}, {}
  for _, r in ipairs(rows) do
    local p = lookalike.prepare(r[1]:lower())
    if p and not set[p.reg] then
      set[p.reg] = r[2]; list[#list + 1] = p
    end
  end
  table.sort(list, function(a, b) return a.reg < b.reg end)
  protected_set, protected_list = set, list
  lua_util.debugm(N, rspamd_config, 'protected map: %s domains', #list)
end)
callback_map('names', function(rows)
  local t, n = {}, 0
  for _, r in ipairs(rows) do
    local addrs = {}
    for a in r[2]:gmatch('[^,%s]+') do addrs[#addrs + 1] = a:lower() end
    t[r[1]] = addrs; n = n + 1
  end
  names = t
  lua_util.debugm(N, rspamd_config, 'names map: %s names', n)
end)
local country_map = native_map('country', 'radix')
local infra_map = native_map('infra', 'hash')
local history_map = native_map('history', 'hash')
local domestic_map = native_map('domestic', 'hash')
local known_map = native_map('known', 'hash')
local relay_map = native_map('relays', 'radix') -- preset + learned relay networks

local function get(map, key)
  if not map or not key or key == '' then return nil end
  local v = map:get_key(key)
  if v == nil or v == false then return nil end
  return v
end

local data = {
  -- the radix maps take the address as an rspamd{ip} object: a text key would be parsed by
  -- Rspamd again on every lookup (norm.address parses each text once per process)
  country = function(ip)
    local a = norm.address(ip)
    local v = a and get(country_map, a.obj)
    return v and tostring(v) or nil
  end,
  history = function(d) return tonumber(get(history_map, d)) end,
  infra = function(d, k) return get(infra_map, d .. '|' .. k) ~= nil end,
  domestic = function(d) return get(domestic_map, d) ~= nil end,
  known = function(reg) return get(known_map, reg) ~= nil end,
  relay = function(obj) return get(relay_map, obj) ~= nil end, -- an rspamd{ip} (checks.trust)
  protected = function(reg) return protected_set[reg] ~= nil end,
  protected_list = function() return protected_list end,
  names = function(folded) return names[folded] end,
}

-- Task → facts -----------------------------------------------------------------------------

local function real_name(h)
  if type(h) ~= 'string' or h == '' or h:lower() == 'unknown' then return nil end
  return h
end

-- The displayed From of a header value (pure, code-point work): memoised per scanner process,
-- bounded like norm.memo; the returned list is only read.
local shown_cache, others_cache, displayed_n = {}, {}, 0
local NO_OTHERS = {} -- shared by every result without other addresses (most From headers)
local function displayed(raw, decoded)
  local key = raw .. '\0' .. decoded
  if #key > 512 then return from_hdr.displayed(raw, decoded) end
  local hit = shown_cache[key]
  if hit then return hit, others_cache[key] end
  local shown, others = from_hdr.displayed(raw, decoded)
  if #others == 0 then others = NO_OTHERS end
  if displayed_n >= 2048 then shown_cache, others_cache, displayed_n = {}, {}, 0 end
  shown_cache[key], others_cache[key] = shown, others; displayed_n = displayed_n + 1
  return shown, others
end

local one_line = norm.memo(from_hdr.one_line) -- pure; From values recur
local lower = norm.memo(from_hdr.lower) -- pure

-- A Received hop: its address at once, its verified name (the PTR in parentheses the
-- receiving MTA wrote, never the HELO: Rspamd's real_hostname also takes the name of
-- 'from NAME [IP]', which is a HELO) when a check reads .host — the trust walk stops at the
-- first untrusted hop, so most hops are never judged by name.
local HOP = {__index = function(hop, key)
  if key ~= 'host' then return nil end
  local raw, host = rawget(hop, 'raw'), nil
  if raw then host = norm.verified_name(raw) else host = real_name(rawget(hop, 'rh')) end
  if host then rawset(hop, 'host', host) end
  return host
end}

-- The hop tables and their list are reused from mail to mail (a Received chain of 5-8 hops
-- was a table each per mail, the largest part of the plugin's garbage); the checks read them
-- only while the mail is judged (the external sender and chain are copied out). Only the
-- first HOP_POOL hops are pooled, so a hostile chain of thousands of hops leaves at most
-- HOP_POOL small tables behind (≈ 60 KB). 512, not 64: a chain of a few hundred hops (the test
-- set has one of 300) made a table per hop beyond the pool on every such mail.
local HOP_POOL = 512
local hop_pool, hop_list = {}, {}
local function hops_of(task)
  local hops, n = hop_list, 0
  local rh = task:get_received_headers() or {}
  for i = 1, #rh do
    local h = rh[i]
    if not (h.flags and h.flags.artificial) then
      local hip = h.from_ip or h.real_ip -- a string in 3.4 (an rspamd_ip in some versions)
      if type(hip) == 'userdata' then hip = hip:is_valid() and hip:to_string() or nil end
      local raw = h.raw
      n = n + 1
      local hop = hop_pool[n]
      if hop then
        hop.host = nil -- the verified name is judged again (HOP) for this mail's hop
      else
        hop = setmetatable({}, HOP)
        if n <= HOP_POOL then hop_pool[n] = hop end
      end
      hop.ip, hop.raw, hop.rh = hip, raw, not raw and h.real_hostname or nil
      hops[n] = hop
    end
  end
  for k = #hops, n + 1, -1 do hops[k] = nil end
  if n > HOP_POOL then hop_list = {} end -- a long list is not kept either
  return hops
end

local function reply_to_of(task)
  local rt = task:get_header_raw('Reply-To') -- the first Reply-To's value
  if rt then
    local parsed = rspamd_util.parse_mail_address(rt, task:get_mempool())
    if parsed and parsed[1] then return parsed[1].addr end
  end
  return nil
end

-- Facts read only by some checks for some mail come from the task when first read: hops (the
-- Received chain: not read when the connecting address is already the external sender and
-- no sender domain is domestic), reply_to (read by the header-mismatch check only) and helo
-- (no check reads it today: a C call per mail saved).
local function helo_of(task) return real_name(task:get_helo()) end
local LAZY = {hops = hops_of, reply_to = reply_to_of, helo = helo_of}
local FACTS = {__index = function(f, key)
  local fn, task = LAZY[key], rawget(f, 'task')
  if not fn or not task then return nil end
  local v = fn(task)
  rawset(f, key, v)
  return v
end}

local MIME_FROM, SMTP_FROM = {'mime', 'orig'}, {'smtp', 'orig'} -- 'orig': no alias rewriting

-- The facts table is reused too (one mail at a time: the callback never yields); every field
-- is cleared first, the lazy ones included, so nothing of the previous mail is read.
-- (Written out, not a loop over the key names: it runs twice per mail.)
local facts_t = setmetatable({}, FACTS)
local function clear_facts()
  local f = facts_t
  f.task, f.ip, f.hostname, f.helo, f.user, f.from_addr = nil, nil, nil, nil, nil, nil
  f.from_name, f.from_others, f.from_shown, f.env_from, f.hops, f.reply_to =
      nil, nil, nil, nil, nil, nil
end

local function facts_of(task)
  clear_facts()
  local f = facts_t
  f.task = task
  local ip = task:get_from_ip()
  if ip and ip:is_valid() then f.ip = ip:to_string() end
  f.hostname = real_name(task:get_hostname())
  f.user = task:get_user()
  local from = (task:get_from(MIME_FROM) or {})[1]
  if from then
    f.from_addr = from.addr
    f.from_name = from.name
  end
  f.from_others = NO_OTHERS
  -- the first non-blank From, as the reader sees it: the first header's value and decoded
  -- text as plain strings (get_header_raw / get_header), the full list only when it is blank
  local raw, decoded = one_line(task:get_header_raw('From')), nil
  if raw ~= '' then
    decoded = one_line(task:get_header('From'))
  else
    local heads = task:get_header_full('From') or {}
    for k = 2, math.min(#heads, 8) do
      raw = one_line(heads[k].value)
      if raw ~= '' then decoded = one_line(heads[k].decoded); break end
    end
  end
  if decoded then
    local others
    f.from_shown, others = displayed(raw, decoded)
    if #others > 0 then -- most From headers show one address: no lower-casing then
      local strict = lower(tostring(f.from_addr or ''))
      local kept = {}
      for _, o in ipairs(others) do
        if lower(o) ~= strict then kept[#kept + 1] = o end
      end
      f.from_others = kept
    end
  end
  local env = (task:get_from(SMTP_FROM) or {})[1]
  if env then f.env_from = env.addr end
  return f
end

-- Options are evidence for humans: no control characters, valid UTF-8, bounded length.
local function sanitise_text(s)
  s = tostring(s):gsub('[%z\1-\31\127]', '')
  local cps = unicode.decode(s)
  local out, len = {}, 0
  for _, cp in ipairs(cps) do
    if not (cp >= 0x80 and cp <= 0x9F) and cp ~= 0x2028 and cp ~= 0x2029
        and not (cp >= 0x202A and cp <= 0x202E) and not (cp >= 0x2066 and cp <= 0x2069) then
      local e = unicode.encode({cp})
      if len + #e > settings.max_option_length then break end
      out[#out + 1] = e; len = len + #e
    end
  end
  return table.concat(out)
end

local sanitise_memo = norm.memo(sanitise_text) -- pure: options recur from mail to mail
local function sanitise(s) return (sanitise_memo(tostring(s))) end

-- The tag: what lua_mime.modify_headers(task, {add = ..., remove = ...}) of Rspamd 3.4 does
-- (/usr/share/rspamd/lualib/lua_mime.lua, 'compat' mode), made directly: the milter reply the
-- MTA applies (add_headers {name = {order = 0, value = v}}, remove_headers {name = 0}) and the
-- task's own view of its headers (task:modify_header: remove, then add on top), without the
-- helper's generic flattening (a closure and about a dozen tables per flagged mail; the tag was
-- a fifth of the plugin's time per mail — docs/bench.md, "item 4, sixth round").
-- Without a subject prefix the milter reply and header change depend only on the tag's value
-- and on an incoming tag: their tables are kept per (value, incoming) — Rspamd copies them
-- (ucl_object_lua_import) and never changes them; at most 2 x 2^6 combinations, bounded anyway.
local tag_cache, tag_n = {}, 0
local function tag(task, fired)
  local hname = settings.header_name
  local incoming = task:get_header(hname)
  local flagged = #fired > 0
  if not flagged and not incoming then return end -- clean mail, nothing to remove: no work
  local value = flagged and settings.tag_header and table.concat(fired, ', ') or nil
  local prefix = flagged and tostring(settings.tag_subject or '') or ''
  if not value and not incoming and prefix == '' then return end
  if prefix == '' then -- the usual case: the same few changes recur, built once each
    local key = (value or '') .. (incoming and '\1' or '\0')
    local c = tag_cache[key]
    if not c then
      c = {reply = {add_headers = value and {[hname] = {order = 0, value = value}} or nil,
                    remove_headers = incoming and {[hname] = 0} or nil},
           rules = {add = value and {{0, value}} or nil, remove = incoming and {0} or nil}}
      if tag_n >= 256 then tag_cache, tag_n = {}, 0 end
      tag_cache[key] = c; tag_n = tag_n + 1
    end
    task:set_milter_reply(c.reply)
    task:modify_header(hname, c.rules)
    return
  end
  -- a subject prefix: the subject is the mail's own, so these tables are built per mail
  local subj = ((task:get_header_full('Subject') or {})[1] or {}).value or ''
  subj = subj:gsub('\r?\n[ \t]*', ' '):gsub('[%z\1-\8\10-\31\127]', '')
  if prefix:find('[\128-\255]') then prefix = rspamd_util.mime_header_encode(prefix) end
  local subject = prefix .. ' ' .. subj
  local add, remove = {Subject = {order = 0, value = subject}}, {Subject = 0}
  if value then add[hname] = {order = 0, value = value} end
  if incoming then remove[hname] = 0 end -- never trust an incoming tag
  if hname == 'Subject' then add.Subject = {order = 0, value = subject} end -- as the helper
  task:set_milter_reply({add_headers = add, remove_headers = remove})
  if (value or incoming) and hname ~= 'Subject' then -- one change a header name
    task:modify_header(hname, {add = value and {{0, value}} or nil,
                               remove = incoming and {0} or nil})
  end
  task:modify_header('Subject', {add = {{0, subject}}, remove = {0}})
end

local fired_buf = {} -- the names of this mail's findings (refilled per mail, as the facts)
local function check_task(task)
  local f = facts_of(task)
  if settings.expose_from then
    local o = {sanitise('shown=' .. norm.domain_of(f.from_shown)),
               sanitise('strict=' .. norm.domain_of(f.from_addr)),
               sanitise('name=' .. (unicode.fold_name(f.from_name or '')))}
    for _, x in ipairs(f.from_others) do o[#o + 1] = sanitise('other=' .. norm.domain_of(x)) end
    task:insert_result('SAKIMORI_FROM', 0.0, o)
  end
  lua_util.debugm(N, task, 'facts: ip=%s user=%s from=%s shown=%s env=%s', f.ip, f.user,
      f.from_addr, f.from_shown, f.env_from)
  local results = checks.evaluate(f, cfg, data)
  lua_util.debugm(N, task, '%s check(s) fired', #results)
  local fired = fired_buf
  for k = #fired, #results + 1, -1 do fired[k] = nil end
  for i, r in ipairs(results) do
    local options = r[2] -- this mail's own list (the checks build one per finding): in place
    for k = 1, #options do options[k] = sanitise(options[k]) end
    task:insert_result(r[1], 1.0, options)
    fired[i] = r[1]
  end
  tag(task, fired)
  clear_facts() -- no reference to this mail's task or strings kept
end

local function sakimori_cb(task)
  local ok, err = pcall(check_task, task) -- no closure per mail
  if not ok then
    rspamd_logger.errx(task, '%s: check failed (message passed unchanged): %s', N, err)
  end
end

local id = rspamd_config:register_symbol({
  name = 'SAKIMORI_CHECK',
  type = 'callback',
  callback = sakimori_cb,
  group = N,
  score = 0.0,
  flags = 'empty',
  description = 'sakimori spoofed-mail checks',
})
if settings.expose_from then
  rspamd_config:register_symbol({name = 'SAKIMORI_FROM', type = 'virtual', parent = id,
    group = N, score = 0.0, description = 'sakimori diagnostics: the From domains judged'})
end
for sym, score in pairs(settings.scores) do
  rspamd_config:register_symbol({
    name = sym, type = 'virtual', parent = id, group = N,
    score = tonumber(score) or 0.0, description = settings.descriptions[sym] or sym,
  })
end

-- Parse the Unicode and suffix tables when a scanner starts, not on its first mail.
rspamd_config:add_on_load(function(_, _, worker)
  if worker and worker:is_scanner() then
    local ok, err = pcall(function()
      unicode.tables(); norm.registrable_domain('example.co.jp')
    end)
    if not ok then rspamd_logger.errx(rspamd_config, '%s: cannot load tables: %s', N, err) end
  end
end)
