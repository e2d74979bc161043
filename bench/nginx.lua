-- bench/nginx.lua: wrk's script for bench/nginx.sh.
--
--   wrk -s bench/nginx.lua URL -- FILES DIRS
--
-- Each request asks for one image of the tree bench/nginx.sh makes, picked
-- at random: file I is dNN/fNNNNN.jpg with NN = I mod DIRS.  At the end it
-- prints one line, "wrk-summary key=value ...", that bench/nginx.sh reads
-- (requests, duration in microseconds, and each kind of error; "status"
-- counts answers other than 2xx and 3xx).

local files, dirs
local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("thread_number", threads)
end

function init(args)
	files = tonumber(args[1])
	dirs = tonumber(args[2])
	if not files or not dirs or files < 1 or dirs < 1 then
		error("usage: wrk -s nginx.lua URL -- FILES DIRS")
	end
	-- Each thread its own sequence.
	math.randomseed(os.time() * 1000 + thread_number)
end

function request()
	local i = math.random(0, files - 1)
	return wrk.format("GET", string.format("/d%02d/f%05d.jpg", i % dirs, i))
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"wrk-summary requests=%d duration_us=%d bytes=%d connect=%d read=%d " ..
		"write=%d status=%d timeout=%d p50_us=%d p99_us=%d\n",
		summary.requests, summary.duration, summary.bytes, e.connect, e.read,
		e.write, e.status, e.timeout, latency:percentile(50),
		latency:percentile(99)))
end
