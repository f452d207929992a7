# tether's persistent shell, sent once on the stdin of an interactive `bash` (or
# `sh`, on an image without bash). Then every call is one line (see shell.py):
#
#   __tether_call TOKEN SAVE 'COMMAND'; __tether_end $? NONCE SAVE
#
# The command runs in a foreground subshell: `exit` ends only the subshell, `$#` is
# 0, and errors read as in a terminal (`bash: x: command not found`; `bash: eval:
# line 2: syntax error...`, counting the command's own lines). Its output
# goes straight to this shell's stdout, the exec's stream to the harness: nothing
# the command deletes can lose it, and the harness sees it as it comes. Whatever
# the subshell runs inherits TETHER_CALL=TOKEN, so a killer finds it even after it
# left the process group (setsid, timeout, a daemon). With SAVE 1 the subshell
# writes its state (exported variables, functions, aliases, the working directory)
# as it ends, however it ends, and this shell takes it over: after every call,
# whatever its text. `NONCE E STATUS [oom]` closes the call, right after its output.
#
# Between calls this shell runs builtins only (`command` ones where a function could
# stand in), so no PATH, alias or function the agent sets can blind it.
PS1= PS2=  # interactive, but without prompts (nor, in bash, history or `!`)
if [ -n "${BASH_VERSION:-}" ]; then
  set +H +o history
  unset PROMPT_COMMAND
fi
umask 022
mkdir -p "${HOME:-/tmp}" 2>/dev/null
cd /workspace 2>/dev/null
export PWD
__tether_path=$PATH
# A flat file in a sticky tmpfs: no directory a command could remove first.
__tether_env=/dev/shm/.tether-env.$$
{ : >"$__tether_env"; } 2>/dev/null || __tether_env=/tmp/.tether-env.$$
: >"$__tether_env"
__tether_applied=
__tether_tools='[ cat cd chmod cp find grep head ls mkdir mv printf readlink rm sed sort stat tail test wc'
__tether_oomfile=/sys/fs/cgroup/memory.events  # cgroup v2, else v1:
[ -r "$__tether_oomfile" ] || __tether_oomfile=/sys/fs/cgroup/memory/memory.oom_control

# Code that runs seldom lives in variables, run with eval: bash's `declare -f` prints
# every function into the state after every call, and the fewer, the faster.
__tether_oom_code='  # __tether_ooms: how many processes the kernel killed out of memory so far
  __tether_ooms=0
  { while read -r __tether_k __tether_v; do
      [ "$__tether_k" = oom_kill ] && __tether_ooms=$__tether_v
    done <"$__tether_oomfile"; } 2>/dev/null'
eval "$__tether_oom_code"
__tether_oomseen=$__tether_ooms

__tether_started() {  # /proc/PID/stat's 22nd field: when this shell started, for a killer
  set -- ${1##*) }
  __tether_start=${20:-0}
}
__tether_start=0
read -r __tether_stat </proc/$$/stat 2>/dev/null && __tether_started "$__tether_stat"
unset -f __tether_started

# -- in the call's subshell ----------------------------------------------------

# On one line, so that eval counts the lines of a syntax error from the command's first.
__tether_call() { (__tether_enter "$1" "$2"; __tether_c=$3; shift 3; eval "$__tether_c"; __tether_leave $?) </dev/null 2>&1; }

# A file tool's script runs with the image's PATH and tools, whatever the agent changed.
__tether_clean_code='PATH=$__tether_path; unset -f $__tether_tools 2>/dev/null; unalias -a 2>/dev/null'

__tether_enter() {  # TOKEN SAVE
  TETHER_CALL=$1
  export TETHER_CALL
  __tether_save=$2
  [ "$2" = 1 ] && trap '__tether_leave $?' EXIT  # `exit` in the command still saves
  [ "$2" = 1 ] || eval "$__tether_clean_code"
}

__tether_leave() {  # STATUS: save the state once, and end the subshell with STATUS
  if [ "${__tether_save:-}" = 1 ]; then
    __tether_save=
    unset TETHER_CALL
    __tether_dump >"$__tether_env"
  fi
  exit "$1"
}

# -- in this shell, after the call: take the state over ------------------------

if [ -n "${BASH_VERSION:-}" ]; then
  __tether_dump() { export -p; declare -f; alias -p; }
  __tether_apply() {  # if it differs from the last one (mapfile reads in blocks)
    local IFS= __tether_lines
    mapfile __tether_lines <"$__tether_env"
    [ "${__tether_lines[*]}" = "$__tether_applied" ] && return
    __tether_applied="${__tether_lines[*]}"
    eval "$__tether_take_code"
  }
  # Forget every export, function and alias (the state has them all), then take the
  # state, its `declare -x` global rather than the function's.
  __tether_take_code='
    compgen -e >"$__tether_env.names"
    while builtin read -r __tether_name; do
      unset "$__tether_name" 2>/dev/null
    done <"$__tether_env.names"
    compgen -A function >"$__tether_env.names"
    while builtin read -r __tether_name; do
      case $__tether_name in __tether_*) ;; *) unset -f "$__tether_name" ;; esac
    done <"$__tether_env.names"
    unalias -a
    declare() { builtin declare -g "$@"; }
    eval "$__tether_applied"
    unset -f declare
    builtin cd -- "${PWD:-/workspace}" 2>/dev/null'
else
  __tether_dump() { export -p; }
  __tether_apply() {  # dash cannot list functions: exported variables and the directory
    export -p >"$__tether_env.names"
    while command read -r __tether_word __tether_name; do
      [ "$__tether_word" = export ] && unset "${__tether_name%%=*}" 2>/dev/null
    done <"$__tether_env.names"
    . "$__tether_env"
    command cd -- "${PWD:-/workspace}" 2>/dev/null
  }
fi

__tether_end() {  # STATUS NONCE SAVE
  __tether_flag=
  [ "$1" = 137 ] && eval "$__tether_oom_code" &&
    [ "$__tether_ooms" -gt "$__tether_oomseen" ] 2>/dev/null && __tether_flag=" oom"
  __tether_oomseen=$__tether_ooms
  command printf '%s E %s%s\n' "$2" "$1" "$__tether_flag"  # one write: a newline flushes
  # The state is taken over after the answer, while it travels: the next call's line
  # is read only once this is done, so the next call sees it all the same.
  [ "$3" = 1 ] && [ -s "$__tether_env" ] && __tether_apply
}
