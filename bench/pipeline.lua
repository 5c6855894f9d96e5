-- wrk script: pipelined HTTP/1.1 requests. Each write carries BENCH_DEPTH (default 16)
-- GET requests for the URL's path; wrk counts every response, so its request count and
-- requests/s are per request, not per write.
local depth = tonumber(os.getenv("BENCH_DEPTH") or "16")
local pipelined

init = function(args)
	if not wrk.headers["Host"] then
		local host = wrk.host
		if host:find(":") then
			host = "[" .. host .. "]"
		end
		wrk.headers["Host"] = wrk.port and (host .. ":" .. wrk.port) or host
	end
	local reqs = {}
	for i = 1, depth do
		reqs[i] = wrk.format("GET", wrk.path)
	end
	pipelined = table.concat(reqs)
end

request = function()
	return pipelined
end
