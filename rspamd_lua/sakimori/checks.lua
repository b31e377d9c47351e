--[[
Copyright 2026 sakimori authors. Licensed under the Apache License, Version 2.0.

sakimori/checks.lua — checks 1-6 of docs/mail-checks.md over plain facts (no Rspamd task), so
the same code runs in the plugin and in `rspamadm lua` tests.

facts = {ip = 'a.b.c.d'|nil, hostname = str|nil, helo = str|nil, user = str|nil,
         hops = {{ip = str|nil, host = str|nil}, ...} (Received, newest first, no artificial),
         from_addr = str|nil, from_name = str|nil, env_from = str|nil, reply_to = str|nil}
cfg   = the plugin settings (internal_domains, trusted networks, relay_suffixes, thresholds)
data  = lookups over the maps: country(ip) history(domain) infra(domain, key) domestic(domain)
        known(reg) protected(reg) protected_list() names(folded) → list of addresses
        relay(ip) → true for a preset or learned relay network
Returns {{symbol, {options...}}, ...} in check order.
]]--

return function(need)
  local N = need('norm')
  local U = need('unicode')
  local L = need('lookalike')
  local M = {}

  local function is_internal(domain, internal)
    if domain == '' then return false end
    for _, d in ipairs(internal) do
      if domain == d or (#domain > #d and domain:sub(-#d - 1) == '.' .. d) then return true end
    end
    return false
  end
  M.is_internal = is_internal

  -- The one trust decision (docs/mail-checks.md "Trusted address"; Python twin:
  -- sakimori/mail/relays.py Trust.address): 'own', 'relay' or nil (untrusted). name is the
  -- verified name a trusted writer recorded (never the HELO).
  local function trust(obj, name, cfg, data)
    if not N.is_global(obj) or N.in_networks(obj, cfg.trusted) then return 'own' end
    if data and data.relay and data.relay(obj:to_string()) then return 'relay' end
    if name and N.has_suffix(name, cfg.relay_suffixes) then return 'relay' end
    return nil
  end
  M.trust = trust

  -- The external sender {ip, obj, host} and the external chain (list of IP strings), or nil:
  -- the connecting IP when untrusted, else the first untrusted hop (newest -> oldest); when
  -- the walk ends inside relay hops, the oldest relay hop (relays never make mail internal).
  function M.external(f, cfg, data)
    local hops = f.hops or {}
    local ext, older, last
    local ip = N.parse_ip(f.ip)
    if ip then
      local t = trust(ip, f.hostname, cfg, data)
      if not t then
        ext, older = {ip = ip:to_string(), obj = ip, host = f.hostname}, 1
      elseif t == 'relay' then
        last = {{ip = ip:to_string(), obj = ip, host = f.hostname}, 1}
      end
    end
    if not ext then
      for i, h in ipairs(hops) do
        local obj = N.parse_ip(h.ip)
        if obj then
          local t = trust(obj, h.host, cfg, data)
          if not t then
            ext, older = {ip = obj:to_string(), obj = obj, host = h.host}, i + 1
            break
          elseif t == 'relay' then
            last = {{ip = obj:to_string(), obj = obj, host = h.host}, i + 1}
          end
        end
      end
    end
    if not ext and last then ext, older = last[1], last[2] end
    if not ext then return nil end
    local chain = {ext.ip}
    for i = older, #hops do
      local obj = N.parse_ip(hops[i].ip)
      if obj and N.is_public_ip(obj) then chain[#chain + 1] = obj:to_string() end
    end
    return ext, chain
  end

  local function internal_spoof(ctx)
    if not ctx.ext or ctx.authenticated then return nil end
    local dom = is_internal(ctx.d_hdr, ctx.cfg.internal_domains) and ctx.d_hdr
        or (is_internal(ctx.d_env, ctx.cfg.internal_domains) and ctx.d_env)
    if dom then return {'from=' .. dom, 'ip=' .. ctx.ext.ip} end
  end

  local function domestic_via_overseas(ctx)
    local d, cfg = ctx.sender, ctx.cfg
    if not ctx.ext or d == '' or ctx.sender_internal then return nil end
    -- the TLD presumption holds only for a domain without learned history
    local domestic = ctx.data.domestic(d)
        or (ctx.data.history(d) == nil and N.is_domestic_tld(d, cfg.domestic_tlds))
    if not domestic then return nil end
    for _, ip in ipairs(ctx.chain) do
      local cc = ctx.data.country(ip)
      if cc and cc ~= '' and cc:upper() ~= cfg.domestic_country then
        return {'domain=' .. d, 'ip=' .. ip, 'country=' .. cc:upper()}
      end
    end
  end

  local function new_infrastructure(ctx)
    local d = ctx.sender
    if not ctx.ext or d == '' or ctx.sender_internal then return nil end
    if (ctx.data.history(d) or 0) < ctx.cfg.new_infra_min_history then return nil end
    local keys = N.infrastructure_keys(ctx.ext.obj, ctx.ext.host)
    if #keys == 0 then return nil end
    for _, k in ipairs(keys) do
      if ctx.data.infra(d, k) then return nil end
    end
    local opts = {'domain=' .. d}
    for _, k in ipairs(keys) do opts[#opts + 1] = 'infra=' .. k end
    return opts
  end

  local function display_name_spoof(ctx)
    local f = ctx.facts
    if not f.from_name or f.from_name == '' then return nil end
    local folded, n = U.fold_name(f.from_name)
    if n < ctx.cfg.display_name_min_length then return nil end
    local addrs = ctx.data.names(folded)
    if not addrs then return nil end
    local addr = N.normalise_address(f.from_addr)
    for _, a in ipairs(addrs) do
      if a == addr then return nil end
    end
    return {'name=' .. folded, 'addr=' .. addr}
  end

  local function lookalike(ctx)
    local d = ctx.sender
    if d == '' then return nil end
    local reg = N.registrable_domain(d)
    if reg == '' or ctx.data.protected(reg) or ctx.data.known(reg) then return nil end
    local like, how = L.match(d, ctx.data.protected_list(), ctx.cfg.lookalike_max_distance)
    if like then return {'domain=' .. d, 'like=' .. like, 'how=' .. how} end
  end

  -- registrable domain, or the domain itself when it has no public suffix
  local function org(domain)
    if domain == '' then return '' end
    local reg = N.registrable_domain(domain)
    return reg ~= '' and reg or domain
  end

  -- Reply-To divergence counts for a protected From or with another finding; envelope
  -- divergence only with another finding (alone it is everyday mail: bounce domains).
  local function header_mismatch(ctx, fired)
    local from = org(ctx.d_hdr)
    if from == '' then return nil end
    local opts = {}
    local rt = org(N.domain_of(ctx.facts.reply_to))
    if rt ~= '' and rt ~= from and (fired or ctx.data.protected(from)) then
      opts[#opts + 1] = 'reply_to=' .. rt
    end
    local env = org(ctx.d_env)
    if env ~= '' and env ~= from and fired then opts[#opts + 1] = 'envelope=' .. env end
    if #opts == 0 then return nil end
    table.insert(opts, 1, 'from=' .. from)
    return opts
  end

  M.CHECKS = {
    {'SAKIMORI_INTERNAL_SPOOF', internal_spoof},
    {'SAKIMORI_DOMESTIC_VIA_OVERSEAS', domestic_via_overseas},
    {'SAKIMORI_NEW_INFRASTRUCTURE', new_infrastructure},
    {'SAKIMORI_DISPLAY_NAME_SPOOF', display_name_spoof},
    {'SAKIMORI_LOOKALIKE_DOMAIN', lookalike},
  }
  M.HEADER_MISMATCH = 'SAKIMORI_HEADER_MISMATCH'

  function M.evaluate(f, cfg, data)
    local d_hdr = N.domain_of(f.from_addr)
    local d_env = N.domain_of(f.env_from)
    local sender = d_hdr ~= '' and d_hdr or d_env
    local ext, chain = M.external(f, cfg, data)
    local ctx = {
      facts = f, cfg = cfg, data = data, ext = ext, chain = chain or {},
      authenticated = f.user ~= nil and f.user ~= '',
      d_hdr = d_hdr, d_env = d_env, sender = sender,
      sender_internal = is_internal(sender, cfg.internal_domains),
    }
    local results, fired = {}, false
    for _, c in ipairs(M.CHECKS) do
      local opts = c[2](ctx)
      if opts then
        results[#results + 1] = {c[1], opts}
        fired = true
      end
    end
    local opts = header_mismatch(ctx, fired)
    if opts then results[#results + 1] = {M.HEADER_MISMATCH, opts} end
    return results
  end

  return M
end
