--[[
Copyright 2026 sakimori authors. Licensed under the Apache License, Version 2.0.

sakimori/checks.lua — checks 1-6 of docs/mail-checks.md over plain facts (no Rspamd task), so
the same code runs in the plugin and in `rspamadm lua` tests.

facts = {ip = 'a.b.c.d'|nil, hostname = str|nil, helo = str|nil, user = str|nil,
         hops = {{ip = str|nil, host = str|nil}, ...} (Received, newest first, no artificial),
         from_addr = str|nil (strict), from_shown = str|nil (displayed),
         from_others = {str...}, from_name = str|nil, env_from = str|nil, reply_to = str|nil}
cfg   = the plugin settings (internal_domains, trusted networks, relay_suffixes, thresholds)
data  = lookups over the maps: country(ip) history(domain) infra(domain, key) domestic(domain)
        known(reg) protected(reg) protected_list() names(folded) → list of addresses
        relay(obj) → true for a preset or learned relay network (obj: an rspamd{ip})
Returns {{symbol, {options...}}, ...} in check order.
]]--

-- Interpreted, never traced: LuaJIT's trace recorder aborted on this code about once per
-- mail (each abort unwinds the C stack); docs/bench.md, "item 4, fourth round".
if jit then jit.off(true, true) end

local N = require('sakimori.norm')
local U = require('sakimori.unicode')
local L = require('sakimori.lookalike')
local F = require('sakimori.from')
local M = {}

local function is_internal(domain, internal)
  if domain == '' then return false end
  for k = 1, #internal do -- numeric loops in the per-mail paths: ipairs is a call per step
    local d = internal[k]
    if domain == d or N.ends_with_label(domain, d) then return true end
  end
  return false
end
M.is_internal = is_internal

-- The one trust decision (docs/mail-checks.md "Trusted address"; Python twin:
-- sakimori/mail/relays.py Trust.address): 'own', 'relay' or nil (untrusted). name is the
-- verified name a trusted writer recorded (never the HELO).
local function trust(obj, name, cfg, data)
  if not N.is_public_ip(obj) or N.in_networks(obj, cfg.trusted) then return 'own' end
  if data and data.relay and data.relay(obj) then return 'relay' end
  if name and N.has_suffix(name, cfg.relay_suffixes) then return 'relay' end
  return nil
end
M.trust = trust

-- trust() of a memoised address (N.address): the same decision without re-parsing.
local function trust_addr(a, name, cfg, data)
  if not a.public or N.in_networks(a.obj, cfg.trusted, a.str) then return 'own' end
  if data and data.relay and data.relay(a.obj) then return 'relay' end
  if name and N.has_suffix(name, cfg.relay_suffixes) then return 'relay' end
  return nil
end

-- The external sender {ip, obj, host} and the index of the hop older than it, or nil: the
-- connecting IP when untrusted, else the first untrusted hop (newest -> oldest); when the
-- walk ends inside relay hops, the oldest relay hop (relays never make mail internal).
-- f.hops is read only when the connecting IP is trusted or absent (the plugin fills it
-- lazily), and of each hop walked only its address, then its verified name.
local function external_of(f, cfg, data)
  local last
  local a = N.address(f.ip)
  if a then
    local t = trust_addr(a, f.hostname, cfg, data)
    if not t then
      return {ip = a.str, obj = a.obj, host = f.hostname}, 1
    elseif t == 'relay' then
      last = {ip = a.str, obj = a.obj, host = f.hostname}
    end
  end
  local older = 1
  local hops = f.hops or {}
  for i = 1, #hops do
    local h = hops[i]
    local ha = N.address(h.ip)
    if ha then
      local host = h.host
      local t = trust_addr(ha, host, cfg, data)
      if not t then
        return {ip = ha.str, obj = ha.obj, host = host}, i + 1
      elseif t == 'relay' then
        last, older = {ip = ha.str, obj = ha.obj, host = host}, i + 1
      end
    end
  end
  if last then return last, older end
  return nil
end

-- The external chain (list of IP strings): the external sender, then every public hop older.
-- into: a list to refill instead of a new one (the checks' own, reused from mail to mail);
-- with it, an address already in the list is left out (distinct: see distinct_chain).
local seen_at, seen_stamp, seen_n = {}, 0, 0
local function chain_of(f, ext, older, into)
  local chain, n = into or {}, 1
  chain[1] = ext.ip
  local hops = f.hops or {}
  if into then
    seen_stamp = seen_stamp + 1
    if seen_n > 4096 then seen_at, seen_n = {}, 0 end
    seen_at[ext.ip] = seen_stamp
  end
  for i = older, #hops do
    local ha = N.address(hops[i].ip)
    if ha and ha.public then
      local ip = ha.str
      if not into then
        n = n + 1; chain[n] = ip
      elseif seen_at[ip] ~= seen_stamp then
        if seen_at[ip] == nil then seen_n = seen_n + 1 end
        seen_at[ip] = seen_stamp
        n = n + 1; chain[n] = ip
      end
    end
  end
  for k = #chain, n + 1, -1 do chain[k] = nil end
  return chain
end
-- evaluate's chain (one mail at a time, like CTX below): the chain's distinct addresses in
-- order. The domestic-via-overseas check stops at the first address of another country, and
-- an address has one country, so judging only its first occurrence gives the same finding
-- and evidence — a hostile chain repeats its hops (the test set's 300 Received headers name
-- 100 addresses: 300 map lookups per such mail before).
local chain_buf = {}

-- The external sender and chain, or nil.
function M.external(f, cfg, data)
  local ext, older = external_of(f, cfg, data)
  if not ext then return nil end
  return ext, chain_of(f, ext, older)
end

local function with(opts, evidence)
  if evidence ~= '' then opts[#opts + 1] = evidence end
  return opts
end

local function internal_spoof(ctx)
  if not ctx.ext or ctx.authenticated then return nil end
  local internal = ctx.cfg.internal_domains
  for _, c in ipairs(ctx.froms) do -- the From domains, then the envelope's
    if is_internal(c[1], internal) then
      return with({'from=' .. c[1], 'ip=' .. ctx.ext.ip}, c[2])
    end
  end
  if is_internal(ctx.d_env, internal) then
    return {'from=' .. ctx.d_env, 'ip=' .. ctx.ext.ip}
  end
end

local function domestic_via_overseas(ctx)
  local cfg = ctx.cfg
  if not ctx.ext then return nil end
  local senders = ctx.senders
  for k = 1, #senders do
    local c = senders[k]
    local d = c[1]
    -- the TLD presumption holds only for a domain without learned history
    if not is_internal(d, cfg.internal_domains) and (ctx.data.domestic(d)
        or (ctx.data.history(d) == nil and N.is_domestic_tld(d, cfg.domestic_tlds))) then
      -- a second domestic sender domain walks the same chain to the same (empty) answer
      if ctx.chain then return nil end
      ctx.chain = chain_of(ctx.facts, ctx.ext, ctx.older, chain_buf)
      local chain = ctx.chain
      for k = 1, #chain do
        local ip = chain[k]
        local cc = ctx.data.country(ip)
        if cc and cc ~= '' and cc:upper() ~= cfg.domestic_country then
          return with({'domain=' .. d, 'ip=' .. ip, 'country=' .. cc:upper()}, c[2])
        end
      end
    end
  end
end

-- infrastructure_keys per 'ip|host' text, memoised (pure; the list is only read)
local infra_keys = N.memo(function(key)
  local ip, host = key:match('^(.-)|(.*)$')
  local a = N.address(ip)
  return N.infrastructure_keys(a and a.obj or nil, host)
end)

local function new_infrastructure(ctx)
  if not ctx.ext then return nil end
  local keys = infra_keys(ctx.ext.ip .. '|' .. (ctx.ext.host or ''))
  if #keys == 0 then return nil end
  local senders = ctx.senders
  for j = 1, #senders do
    local c = senders[j]
    local d = c[1]
    if not is_internal(d, ctx.cfg.internal_domains)
        and (ctx.data.history(d) or 0) >= ctx.cfg.new_infra_min_history then
      local seen = false
      for _, k in ipairs(keys) do
        if ctx.data.infra(d, k) then seen = true; break end
      end
      if not seen then
        local opts = {'domain=' .. d}
        for _, k in ipairs(keys) do opts[#opts + 1] = 'infra=' .. k end
        return with(opts, c[2])
      end
    end
  end
end

-- registrable domain, or the domain itself when it has no public suffix
local function org(domain)
  if domain == '' then return '' end
  local reg = N.registrable_domain(domain)
  return reg ~= '' and reg or domain
end

-- Other address-like text of the From header naming a protected domain not its own.
local function shows_protected(ctx)
  local others = ctx.facts.from_others or {}
  if #others == 0 then return nil end -- most From headers show one address: no work
  local own = {}
  for _, c in ipairs(ctx.froms) do own[org(c[1])] = true end
  for k = 1, math.min(#others, 8) do
    local dom = N.domain_of(others[k])
    local o = org(dom)
    if o ~= '' and ctx.data.protected(o) and not own[o] then
      local shows = N.normalise_address(others[k])
      return {'shows=' .. (shows ~= '' and shows or dom),
              'addr=' .. N.normalise_address(ctx.facts.from_shown)}
    end
  end
end

local function display_name_spoof(ctx)
  local f = ctx.facts
  if f.from_name and f.from_name ~= '' then
    local folded, n = U.fold_name(f.from_name)
    local addrs = n >= ctx.cfg.display_name_min_length and ctx.data.names(folded) or nil
    if addrs then
      local judged, seen = {}, {}
      for _, x in ipairs({f.from_shown or '', f.from_addr or ''}) do
        local a = N.normalise_address(x)
        if a ~= '' and not seen[a] then seen[a] = true; judged[#judged + 1] = a end
      end
      if #judged == 0 then judged = {''} end
      for _, addr in ipairs(judged) do
        local known = false
        for _, a in ipairs(addrs) do
          if a == addr then known = true; break end
        end
        if not known then return {'name=' .. folded, 'addr=' .. addr} end
      end
    end
  end
  return shows_protected(ctx)
end

local function lookalike(ctx)
  local senders = ctx.senders
  for k = 1, #senders do
    local c = senders[k]
    local d = c[1]
    local reg = N.registrable_domain(d)
    if reg ~= '' and not ctx.data.protected(reg) and not ctx.data.known(reg) then
      local like, how = L.match(d, ctx.data.protected_list(), ctx.cfg.lookalike_max_distance)
      if like then return with({'domain=' .. d, 'like=' .. like, 'how=' .. how}, c[2]) end
    end
  end
end

-- Reply-To divergence counts for a protected From or with another finding; envelope
-- divergence only with another finding (alone it is everyday mail: bounce domains).
local function header_mismatch(ctx, fired)
  -- the distinct From organisations in order; F.from_domains gives at most two domains, so
  -- two locals hold them (no table per mail)
  local o1, o2, protected = nil, nil, false
  local froms = ctx.froms
  for k = 1, #froms do
    local o = org(froms[k][1])
    if o ~= '' and o ~= o1 and o ~= o2 then
      assert(o2 == nil, 'more than two From domains')
      if o1 == nil then o1 = o else o2 = o end
      protected = protected or ctx.data.protected(o)
    end
  end
  if o1 == nil then return nil end
  -- both divergences need another finding or a protected From: without either, no Reply-To
  -- is read (a header lookup and an address parse per mail) and nothing is judged
  if not (fired or protected) then return nil end
  local rt = org(N.domain_of(ctx.facts.reply_to))
  local rt_opt = rt ~= '' and rt ~= o1 and rt ~= o2 and (fired or protected)
  local env = org(ctx.d_env)
  local env_opt = env ~= '' and env ~= o1 and env ~= o2 and fired
  if not (rt_opt or env_opt) then return nil end
  local opts = {'from=' .. o1}
  if rt_opt then opts[#opts + 1] = 'reply_to=' .. rt end
  if env_opt then opts[#opts + 1] = 'envelope=' .. env end
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

-- One context table, refilled for every mail: evaluate never yields (no asynchronous call), so
-- two mails never use it at once, and a fresh table of ten fields per mail was about 0.5 KB of
-- garbage — Rspamd's Lua collector is paced by allocation (docs/bench.md, "item 4, sixth
-- round"). Every field is set before the checks run and the mail's references dropped after.
local CTX = {}
local function release(ctx)
  ctx.facts, ctx.ext, ctx.chain, ctx.froms, ctx.senders, ctx.data = nil, nil, nil, nil, nil, nil
end

-- F.from_domains memoised on both strings, length-prefixed (no two pairs share a key); the
-- returned list is shared and only read. nil and '' are the same to it (N.domain_of).
local from_domains = N.memo(function(key)
  local len, rest = key:match('^(%d+):(.*)$')
  len = tonumber(len)
  return F.from_domains(rest:sub(1, len), rest:sub(len + 1))
end)

function M.evaluate(f, cfg, data)
  local shown, strict = f.from_shown or '', f.from_addr or ''
  local froms = from_domains(#shown .. ':' .. shown .. strict)
  local d_env = N.domain_of(f.env_from)
  local senders = froms
  if #froms == 0 and d_env ~= '' then senders = {{d_env, ''}} end
  local ext, older = external_of(f, cfg, data)
  local ctx = CTX
  ctx.facts, ctx.cfg, ctx.data, ctx.ext, ctx.older = f, cfg, data, ext, older
  ctx.chain = nil -- lazy: domestic_via_overseas builds it when it needs it
  ctx.authenticated = f.user ~= nil and f.user ~= ''
  ctx.froms, ctx.d_env, ctx.senders = froms, d_env, senders
  local results, fired = {}, false
  local checks = M.CHECKS
  for k = 1, #checks do
    local c = checks[k]
    local opts = c[2](ctx)
    if opts then
      results[#results + 1] = {c[1], opts}
      fired = true
    end
  end
  local opts = header_mismatch(ctx, fired)
  if opts then results[#results + 1] = {M.HEADER_MISMATCH, opts} end
  release(ctx)
  return results
end

return M
