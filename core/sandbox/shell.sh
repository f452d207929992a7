# tether's persistent shell, sent once on the stdin of `bash` (or `sh`).
#
# Every call is one line: `__tether_run SEQ NONCE LIMIT KEEP 'COMMAND'`. The
# command runs in a background subshell (its own process group when job control
# is on) with stdin from /dev/null and its output in a file, so that a timeout
# can kill the whole group, `exit` cannot end this shell, and output never has
# to pass through memory on either side. The output file is reused (creating a
# file on overlayfs costs 0.2 ms) and opened for appending, so a background
# job that outlives its call appends to the next call's output instead of
# writing holes into it. When KEEP is 1 the subshell saves its
# state as it exits and this shell sources it, so `cd` and `export` last.
# The answer is `NONCE S STATUS`, at most LIMIT bytes of output, `NONCE E`;
# `SEQ PID` of the running command is in $__tether_state/pid for a killer.
umask 022
set -m 2>/dev/null
__tether_dir=/tmp/tether
# Small per-call files go to tmpfs when there is one: a file on overlayfs
# costs a tenth of a millisecond more on every call.
__tether_state=/dev/shm/tether
mkdir -p "$__tether_dir/run" "$__tether_dir/outputs" "${HOME:-/tmp}" 2>/dev/null
mkdir -p "$__tether_state" 2>/dev/null || __tether_state=$__tether_dir/run
cd /workspace 2>/dev/null
export PWD
case $- in *m*) __tether_jc=1 ;; *) __tether_jc=0 ;; esac

__tether_save() {
  if [ -n "${BASH_VERSION:-}" ]; then
    # posix mode prints `export NAME=...`, which stays global when sourced in a function
    set -o posix
    unset -f __tether_run __tether_save
    { export -p; declare -f; alias -p; } >"$__tether_state/env"
  else
    export -p >"$__tether_state/env"
  fi
}

__tether_run() {
  # A command may remove /tmp (`rm -rf /` can): put the shell's files back.
  [ -d "$__tether_dir/run" ] && [ -d "$__tether_state" ] ||
    mkdir -p "$__tether_dir/run" "$__tether_dir/outputs" "$__tether_state" 2>/dev/null
  __tether_o=$__tether_dir/run/out
  : >"$__tether_o"
  if [ "$4" = 1 ]; then
    (trap '__tether_st=$?; __tether_save; exit $__tether_st' EXIT
      eval "$5") </dev/null >>"$__tether_o" 2>&1 &
  else
    (eval "$5") </dev/null >>"$__tether_o" 2>&1 &
  fi
  echo "$1 $!" >"$__tether_state/pid"
  wait "$!"
  __tether_st=$?
  if [ -s "$__tether_state/env" ]; then
    . "$__tether_state/env"
    : >"$__tether_state/env"
    cd -- "$PWD" 2>/dev/null
  fi
  if [ -s "$__tether_o" ]; then
    printf '%s S %s\n' "$2" "$__tether_st"
    head -c "$3" "$__tether_o"
    printf '\n%s E\n' "$2"
  else
    printf '%s S %s\n\n%s E\n' "$2" "$__tether_st" "$2"
  fi
}

# SEQ NONCE TAIL: keep the last call's output whole, answer its size, path and tail.
__tether_spill() {
  __tether_f=$__tether_dir/outputs/$1.txt
  mv -f -- "$__tether_dir/run/out" "$__tether_f"
  printf '%s S %s %s\n' "$2" "$(wc -c <"$__tether_f")" "$__tether_f"
  tail -c "$3" "$__tether_f"
  printf '\n%s E\n' "$2"
}
