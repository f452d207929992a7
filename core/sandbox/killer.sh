# tether's killer: SIGKILL what a call (or a whole shell) started, from a one-off
# exec beside the shell, with POSIX sh, grep and /proc only (no bash, no job control).
#
#   sh -c "$(cat killer.sh)" killer call  SHELL_PID TOKEN
#   sh -c "$(cat killer.sh)" killer shell SHELL_PID SHELL_START
#
# `call` kills the call that shell SHELL_PID runs now: its subshell (the shell's
# child, waited for should the call not have forked yet) and every process that
# descends from it, carries TETHER_CALL=TOKEN in its environment, or was orphaned
# after the call began without any call's mark (a double fork that emptied its
# environment). Processes older than the call, and those of other calls, stay.
# `shell` kills shell SHELL_PID, alive or not, and everything its calls left: its
# descendants, every process with a TETHER_CALL, every orphan born after it.
# Rounds repeat until nothing is left, so that a process forking meanwhile is caught.
mode=$1 shell=$2 arg=$3

procs= entrypoint=
scan() {  # procs: " pid:ppid:start" for every live process but this one, PID 1 and
  procs=  # the container's entrypoint (the first child of PID 1)
  for dir in /proc/[0-9]*; do
    read -r line <"$dir/stat" 2>/dev/null || continue
    fields "${dir#/proc/}" ${line##*) }
  done
}
fields() {  # PID STATE PPID ... (the 22nd field of stat, the start time, is the 21st here)
  [ "$1" = $$ ] || [ "$1" = 1 ] || [ "$2" = Z ] || [ "$1" = "$entrypoint" ] && return
  procs="$procs $1:$3:${21}"
}
first_child_of_init() {
  first= oldest=
  for dir in /proc/[0-9]*; do
    read -r line <"$dir/stat" 2>/dev/null || continue
    set -- "${dir#/proc/}" ${line##*) }
    [ "$3" = 1 ] || continue
    if [ -z "$first" ] || [ "${21}" -lt "$oldest" ] ||
      { [ "${21}" = "$oldest" ] && [ "$1" -lt "$first" ]; }; then
      first=$1 oldest=${21}
    fi
  done
  entrypoint=$first
}
first_child_of_init

marked() {  # " pid pid ... " of the processes whose environment holds $1
  printf ' '
  grep -l -F -e "$1" /proc/[0-9]*/environ 2>/dev/null | while read -r path; do
    path=${path#/proc/}
    printf '%s ' "${path%/environ}"
  done
}

victims=
# Add to victims every descendant of a victim, and every orphan (child of PID 1) born
# after the call's root ($1 its start time, $2 its pid: pids rise within a clock tick)
# that carries no other call's mark ($3).
closure() {
  changed=1
  while [ $changed = 1 ]; do
    changed=0
    for entry in $procs; do
      pid=${entry%%:*} rest=${entry#*:}
      ppid=${rest%%:*} start=${rest#*:}
      case $victims in *" $pid "*) continue ;; esac
      case $victims in
        *" $ppid "*) ;;
        *)
          [ "$ppid" = 1 ] || continue
          case $3 in *" $pid "*) continue ;; esac
          [ "$start" -gt "$1" ] || { [ "$start" = "$1" ] && [ "$pid" -gt "$2" ]; } || continue
          ;;
      esac
      victims="$victims$pid "
      changed=1
    done
  done
}

if [ "$mode" = call ]; then
  mark="TETHER_CALL=$arg"
  i=0
  while :; do  # the call's subshell, once the shell has forked it
    scan
    root=
    for entry in $procs; do
      rest=${entry#*:}
      [ "${rest%%:*}" = "$shell" ] && root=${entry%%:*} since=${rest#*:}
    done
    [ -n "$root" ] || [ $i -ge 100 ] && break
    i=$((i + 1))
    sleep 0.05
  done
  [ -n "$root" ] || since=999999999999 root=999999999
else
  mark="TETHER_CALL="
  root=$shell since=$arg
fi

round=0
while [ $round -lt 50 ]; do
  scan
  ours=$(marked "$mark")
  others=
  [ "$mode" = call ] && others=$(marked "TETHER_CALL=")
  victims=" "
  for pid in $root $ours; do
    case " $procs" in *" $pid:"*) victims="$victims$pid " ;; esac
  done
  closure "$since" "$root" "$others"
  [ "$victims" = " " ] && exit 0
  kill -9 $victims 2>/dev/null
  round=$((round + 1))
done
echo "killer: processes still left after $round rounds:$victims" >&2
exit 1
