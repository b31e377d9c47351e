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

if confighelp then
  return
end

local rspamd_logger = require 'rspamd_logger'
local lua_util = require 'lua_util'
local lua_mime = require 'lua_mime'
local rspamd_util = require 'rspamd_util'

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

-- Load sakimori/*.lua; each returns function(need) → module table (data files: a table).
local function plugin_dir()
  local ok, info = pcall(debug.getinfo, 1, 'S')
  local src = ok and info and info.source or ''
  return src:match('^@(.*)/[^/]*$') or '.'
end
local lib_dir = settings.lib_dir or plugin_dir()
local loaded = {}
local function need(name)
  if loaded[name] == nil then
    local v = dofile(lib_dir .. '/sakimori/' .. name .. '.lua')
    if type(v) == 'function' then v = v(need) end
    loaded[name] = v
  end
  return loaded[name]
end

local ok_load, err_load = pcall(function()
  need('checks'); need('lookalike'); need('norm'); need('from')
end)
if not ok_load then
  rspamd_logger.errx(rspamd_config, 'cannot load %s/sakimori/*.lua: %s; disabling %s',
      lib_dir, err_load, N)
  lua_util.disable_module(N, 'fail')
  return
end
local checks, norm, lookalike = need('checks'), need('norm'), need('lookalike')
local unicode, from_hdr = need('unicode'), need('from')

local function number(key, lo, hi)
  local v = tonumber(settings[key])
  if not v or v < lo or v > hi then
    rspamd_logger.errx(rspamd_config, '%s: bad %s = %s; disabling the module', N, key,
        settings[key])
    return nil
  end
  return v
end

local cfg = {
  internal_domains = {}, domestic_tlds = {},
  trusted = norm.networks(settings.trusted_networks),
  relay_suffixes = {},
  domestic_country = tostring(settings.domestic_country or ''):upper(),
  new_infra_min_history = number('new_infra_min_history', 1, 1e9),
  display_name_min_length = number('display_name_min_length', 1, 1000),
  lookalike_max_distance = number('lookalike_max_distance', 0, 3),
}
if not (cfg.new_infra_min_history and cfg.display_name_min_length
    and cfg.lookalike_max_distance) or #cfg.domestic_country ~= 2 then
  lua_util.disable_module(N, 'config')
  return
end
for _, d in ipairs(settings.internal_domains or {}) do
  local n = norm.normalise_domain(tostring(d))
  if n ~= '' then cfg.internal_domains[#cfg.internal_domains + 1] = n end
end
for _, sfx in ipairs(settings.relay_suffixes or {}) do
  local t = tostring(sfx):lower():gsub('%.+$', '')
  if t:find('^%.[^.]') then cfg.relay_suffixes[#cfg.relay_suffixes + 1] = t end
end
for _, t in ipairs(settings.domestic_tlds or {}) do
  cfg.domestic_tlds[#cfg.domestic_tlds + 1] = tostring(t):lower():gsub('^%.+', '')
end

-- Maps ----------------------------------------------------------------------------------------

local maps_cfg = settings.maps or {}
local function native_map(name, mtype)
  if not maps_cfg[name] then return nil end
  return rspamd_config:add_map({type = mtype, url = maps_cfg[name],
                                description = 'sakimori ' .. name .. ' map'})
end

-- Callback maps are parsed here: '#' is data in names, and the lookalike check iterates.
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
end)
callback_map('names', function(rows)
  local t = {}
  for _, r in ipairs(rows) do
    local addrs = {}
    for a in r[2]:gmatch('[^,%s]+') do addrs[#addrs + 1] = a:lower() end
    t[r[1]] = addrs
  end
  names = t
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
  country = function(ip) local v = get(country_map, ip); return v and tostring(v) or nil end,
  history = function(d) return tonumber(get(history_map, d)) end,
  infra = function(d, k) return get(infra_map, d .. '|' .. k) ~= nil end,
  domestic = function(d) return get(domestic_map, d) ~= nil end,
  known = function(reg) return get(known_map, reg) ~= nil end,
  relay = function(ip) return get(relay_map, ip) ~= nil end,
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
local displayed_cache, displayed_n = {}, 0
local function displayed(raw, decoded)
  local key = raw .. '\0' .. decoded
  if #key > 512 then return from_hdr.displayed(raw, decoded) end
  local hit = displayed_cache[key]
  if hit then return hit[1], hit[2] end
  local shown, others = from_hdr.displayed(raw, decoded)
  if displayed_n >= 2048 then displayed_cache, displayed_n = {}, 0 end
  displayed_cache[key] = {shown, others}; displayed_n = displayed_n + 1
  return shown, others
end

local one_line = norm.memo(from_hdr.one_line) -- pure; From values recur

local function facts_of(task)
  local f = {hops = {}}
  local ip = task:get_from_ip()
  if ip and ip:is_valid() then f.ip = ip:to_string() end
  f.hostname = real_name(task:get_hostname())
  f.helo = real_name(task:get_helo())
  f.user = task:get_user()
  for _, h in ipairs(task:get_received_headers() or {}) do
    if not (h.flags and h.flags.artificial) then
      local hip = h.from_ip or h.real_ip -- a string in 3.4 (an rspamd_ip in some versions)
      if type(hip) == 'userdata' then hip = hip:is_valid() and hip:to_string() or nil end
      f.hops[#f.hops + 1] = {
        ip = hip,
        -- the PTR in parentheses the receiving MTA wrote, never the HELO (Rspamd's
        -- real_hostname also takes the name of 'from NAME [IP]', which is a HELO)
        host = h.raw and norm.verified_name(h.raw) or (not h.raw and real_name(h.real_hostname))
            or nil,
      }
    end
  end
  local from = (task:get_from({'mime', 'orig'}) or {})[1] -- 'orig': no alias rewriting
  if from then
    f.from_addr = from.addr
    f.from_name = from.name
  end
  f.from_others = {}
  local heads = task:get_header_full('From') or {}
  for k = 1, math.min(#heads, 8) do -- the first non-blank From, as the reader sees it
    local raw = one_line(heads[k].value)
    if raw ~= '' then
      local others
      f.from_shown, others = displayed(raw, one_line(heads[k].decoded))
      local strict = from_hdr.lower(tostring(f.from_addr or ''))
      for _, o in ipairs(others) do
        if from_hdr.lower(o) ~= strict then f.from_others[#f.from_others + 1] = o end
      end
      break
    end
  end
  local env = (task:get_from({'smtp', 'orig'}) or {})[1]
  if env then f.env_from = env.addr end
  local rt = ((task:get_header_full('Reply-To') or {})[1] or {}).value
  if rt then
    local parsed = rspamd_util.parse_mail_address(rt, task:get_mempool())
    if parsed and parsed[1] then f.reply_to = parsed[1].addr end
  end
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

local function tag(task, fired)
  local hname = settings.header_name
  local add, remove = {}, {}
  if task:get_header(hname) then remove[hname] = 0 end -- never trust an incoming tag
  if #fired > 0 and settings.tag_header then
    add[hname] = {order = 0, value = table.concat(fired, ', ')}
  end
  local prefix = tostring(settings.tag_subject or '')
  if #fired > 0 and prefix ~= '' then
    local subj = ((task:get_header_full('Subject') or {})[1] or {}).value or ''
    subj = subj:gsub('\r?\n[ \t]*', ' '):gsub('[%z\1-\8\10-\31\127]', '')
    if prefix:find('[\128-\255]') then prefix = rspamd_util.mime_header_encode(prefix) end
    remove['Subject'] = 0
    add['Subject'] = {order = 0, value = prefix .. ' ' .. subj}
  end
  if next(add) or next(remove) then
    lua_mime.modify_headers(task, {add = add, remove = remove})
  end
end

local function sakimori_cb(task)
  local ok, err = pcall(function()
    local f = facts_of(task)
    if settings.expose_from then
      local o = {sanitise('shown=' .. norm.domain_of(f.from_shown)),
                 sanitise('strict=' .. norm.domain_of(f.from_addr)),
                 sanitise('name=' .. (unicode.fold_name(f.from_name or '')))}
      for _, x in ipairs(f.from_others) do o[#o + 1] = sanitise('other=' .. norm.domain_of(x)) end
      task:insert_result('SAKIMORI_FROM', 0.0, o)
    end
    local results = checks.evaluate(f, cfg, data)
    local fired = {}
    for _, r in ipairs(results) do
      local options = {}
      for _, o in ipairs(r[2]) do options[#options + 1] = sanitise(o) end
      task:insert_result(r[1], 1.0, options)
      fired[#fired + 1] = r[1]
    end
    tag(task, fired)
  end)
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
