# Sourced by the benches: one prober per client, and the longest outage
# each one saw.
#
# start_probers N BASE_PORT DIR STOP_FILE: client i is probed at
# 127.0.0.1:BASE_PORT+i, GET /health, every ~50 ms with a 200 ms timeout,
# until STOP_FILE exists; each failed probe appends its start time (ms)
# to DIR/c<i>. Wait for them with `wait` after touching STOP_FILE.
start_probers() {
  mkdir -p "$3"
  for i in $(seq 1 "$1"); do
    (
      port=$(($2 + i))
      while [ ! -e "$4" ]; do
        t=$(date +%s%3N)
        curl -fs -m 0.2 "http://127.0.0.1:$port/health" >/dev/null || echo "$t" >> "$3/c$i"
        sleep 0.05
      done
    ) &
  done
}

# longest_outage FILE: the longest run of failed probes less than 500 ms
# apart, in ms (one outage; a lone probe that timed out under load
# elsewhere is its own run); 0 without a failed probe.
longest_outage() {
  [ -e "$1" ] || { echo 0; return; }
  awk 'NR == 1 { start = $1; prev = $1; best = 50; next }
       $1 - prev < 500 { prev = $1; if (prev - start + 50 > best) best = prev - start + 50; next }
       { start = $1; prev = $1 }
       END { print best }' "$1"
}
