"""Load-generation glue for the serving and memory benchmarks: servers, wrk, scratch DBs."""
