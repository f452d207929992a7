# tether's checkpoint store: sourced by a root shell in a helper container that
# sees the session's workspace (read-only) at /workspace and its store at /store.
#
# /store/git is a bare repository of git objects; the agent never sees it, and
# its config, hooks and attributes are tether's own (the agent's .gitattributes
# cannot make git convert what it stores). A checkpoint is a tree
# {files: the workspace but .git, git: the workspace's .git}, made through two
# indexes (/store/index.files, /store/index.git) that remember every file's
# stat data, so only changed files are read. Git never stores directories, so
# a checkpoint holds no empty ones.
export GIT_DIR=/store/git GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=/store \
  XDG_CONFIG_HOME=/store GIT_TERMINAL_PROMPT=0 LC_ALL=C
unset GIT_WORK_TREE GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
STORE_TMP=/tmp/tether-store.$$  # this shell's scratch files: one-off shells may run beside it

store_init() {
  command -v git >/dev/null 2>&1 || { echo "the image has no git"; return 3; }
  if [ ! -s /store/git/HEAD ]; then
    mkdir -p /store && chmod 700 /store || return
    git init -q --bare /store/git || return
    for setting in core.bare=false core.compression=1 core.looseCompression=1 gc.auto=0 \
      core.quotePath=false core.untrackedCache=false core.splitIndex=true \
      core.fsyncMethod=batch advice.addIgnoredFile=false advice.addEmbeddedRepo=false; do
      git config "${setting%%=*}" "${setting#*=}" || return
    done
    printf '* -text -eol -crlf -filter -ident -working-tree-encoding\n' >/store/git/info/attributes
  fi
  # a checkpoint killed with its harness leaves its locks behind; nothing else holds them
  rm -f /store/*.lock /store/git/*.lock
}

# store_seed: take the packs of the workspace's own repository (copied from the
# host, not yet touched by the agent), so the first checkpoint writes only what
# they lack.
store_seed() {
  for pack in /workspace/.git/objects/pack/pack-*.pack; do
    [ -f "$pack" ] && [ -f "${pack%.pack}.idx" ] || continue
    cp "$pack" "${pack%.pack}.idx" /store/git/objects/pack/ || return
  done
}

# store_tree INDEX DIR [SETTING]: the tree of everything under DIR (ignored files too),
# git run with SETTING (name=value); on failure, git's last words
store_tree() {
  err=$STORE_TMP.${1##*/}.err  # its own: the files and .git are read side by side
  GIT_INDEX_FILE=$1 GIT_WORK_TREE=$2 git ${3:+-c "$3"} add -A -f >/dev/null 2>"$err" || {
    grep -v '^warning:' "$err" | tail -n 2
    return 1
  }
  GIT_INDEX_FILE=$1 git write-tree
}

# store_snapshot PREFIX: the checkpoint id of the workspace now, through PREFIX.files and
# PREFIX.git, which are read side by side
store_snapshot() {
  g= git_out=$STORE_TMP.${1##*/}.git
  if [ -d /workspace/.git ] && [ ! -L /workspace/.git ]; then
    store_git_tree "$1" >"$git_out" 2>&1 &
    g=$!
  fi
  f=$(store_tree "$1.files" /workspace) || { [ -z "$g" ] || wait "$g"; echo "$f"; return 1; }
  if [ -z "$g" ]; then
    printf '040000 tree %s\tfiles\n' "$f" | git mktree
    return
  fi
  wait "$g" || { cat "$git_out"; return 1; }
  read -r g <"$git_out"
  printf '040000 tree %s\tfiles\n040000 tree %s\tgit\n' "$f" "$g" | git mktree
}

# The watcher (watch.pl, started by store_watch with the helper) knows what changed
# since the last checkpoint, and writes the next one from that (trees.pl) without
# starting a process; when it cannot tell, or there is none, the checkpoint reads
# everything through the checkpoint indexes, which remember every file's stat data.
# Its files are in the helper's /tmp, so they die with it and with the watcher.
WATCH=/tmp/tether-watch

# store_watch: start the watcher when the image has perl, and wait until it watches
store_watch() {
  command -v perl >/dev/null 2>&1 || return 0
  rm -f "$WATCH".*
  mkfifo "$WATCH.ctl" "$WATCH.reply" || return 0
  (perl /tether/watch.pl "$WATCH.ctl" "$WATCH.reply" "$WATCH.diff" </dev/null >/dev/null 2>&1 &
    echo $! >"$WATCH.pid")  # a subshell's: no job of this interactive shell
  ready=
  for _ in 1 2 3 4 5 6 7 8 9 10; do  # a second each, while it lives; then read everything
    read -r -t 1 ready <>"$WATCH.reply" && break
    kill -0 "$(cat "$WATCH.pid")" 2>/dev/null || break
  done
  [ "$ready" = ready ] || store_unwatch
}

store_unwatch() {
  [ -s "$WATCH.pid" ] && kill "$(cat "$WATCH.pid")" 2>/dev/null
  rm -f "$WATCH".*
}

# store_ask REQUEST: the watcher's answer in $answer (and in $WATCH.answer): `ok ID`,
# or `full` when there is no watcher (one that died is forgotten), or no answer while
# it lives (2 minutes at most: it may be hashing a large file)
store_ask() {
  answer=full
  [ -p "$WATCH.ctl" ] || return 0
  read -r pid <"$WATCH.pid" && kill -0 "$pid" 2>/dev/null || { store_unwatch; return; }
  answer=
  waited=0
  {
    echo "$1" >&3
    until read -r -t 1 answer <&4; do  # builtins only: a process costs a checkpoint 2 ms
      waited=$((waited + 1))
      [ "$waited" -lt 120 ] && kill -0 "$pid" 2>/dev/null || break
    done
  } 3<>"$WATCH.ctl" 4<>"$WATCH.reply"
  case $answer in
    "ok "* | full) ;;
    *) store_unwatch; answer=full ;;  # a late answer would be read as the next one's
  esac
  printf '%s\n' "$answer" >"$WATCH.answer"
}

# store_tell ID: tell the watcher that ID is the workspace as of its last answer
store_tell() {
  [ -p "$WATCH.ctl" ] && { echo "took $1" >&3; } 3<>"$WATCH.ctl"
}

# store_git_tree PREFIX: the tree of /workspace/.git. Most calls leave it alone, so the
# checkpoints' own index keeps the tree it made last (PREFIX.git.tree) and a stamp made
# just before (PREFIX.git.stamp, a second early: timestamps are coarse); while no file or
# folder under .git has changed status since the stamp (ctime, which no one can set
# back), that tree stands. Any doubt, a find that fails included, reads .git again.
store_git_tree() {
  if [ -s "$1.git.tree" ] && [ -f "$1.git.stamp" ] &&
    changed=$(find /workspace/.git -cnewer "$1.git.stamp" -print -quit 2>/dev/null) &&
    [ -z "$changed" ]; then
    cat "$1.git.tree"
    return
  fi
  touch -d '1 second ago' "$1.git.stamp.new" 2>/dev/null || rm -f "$1.git.stamp.new"
  # stored as it is: git's packs and objects are compressed already
  g=$(store_tree "$1.git" /workspace/.git core.looseCompression=0) || { echo "$g"; return 1; }
  echo "$g" >"$1.git.tree" && { mv -f "$1.git.stamp.new" "$1.git.stamp" 2>/dev/null || :; }
  echo "$g"
}

# store_checkpoint PREVIOUS: the new checkpoint's id; the first 50 files changed since
# PREVIOUS as `STATUS<TAB>PATH`; and how many changed, on the last line. The watcher
# is asked first, even when it cannot answer: a full read then starts after its answer,
# so what changes meanwhile is named next time.
store_checkpoint() {
  store_ask "next $1"
  if [ "$answer" != full ]; then
    echo "${answer#ok }"
    while IFS= read -r line; do printf '%s\n' "$line"; done <"$WATCH.diff"
    return
  fi
  id=$(store_snapshot /store/index) || { echo "$id"; return 1; }
  store_tell "$id"
  echo "$id"
  if [ -z "$1" ] || [ "$1" = "$id" ]; then
    echo 0
    return
  fi
  git diff-tree -r --no-renames --name-status --relative=files "$1" "$id" |
    awk 'NR <= 50 { print } END { print NR }'
}

# store_live: the checkpoint id of the workspace now, without touching the
# checkpoint indexes (a harness may be using them)
store_live() {
  for part in files git git.stamp git.tree; do  # the stamp first: never newer than its tree
    cp -p /store/index.$part "$STORE_TMP.$part" 2>/dev/null || rm -f "$STORE_TMP.$part"
  done
  store_snapshot "$STORE_TMP"
}

# store_project ID BASE: the tree of ID's files as git would show them in the
# workspace: files new since BASE that its .gitignore ignores (build output,
# caches) are left out
store_project() {
  git diff-tree -r -z --no-renames --name-only --diff-filter=A "$2:files" "$1:files" |
    GIT_WORK_TREE=/workspace git check-ignore -z --stdin --no-index >"$STORE_TMP.ignored"
  if [ ! -s "$STORE_TMP.ignored" ]; then
    git rev-parse "$1:files"
    return
  fi
  GIT_INDEX_FILE=$STORE_TMP.project git read-tree "$1:files" &&
    GIT_INDEX_FILE=$STORE_TMP.project GIT_LITERAL_PATHSPECS=1 git rm -q --cached \
      --pathspec-from-file="$STORE_TMP.ignored" --pathspec-file-nul >/dev/null &&
    GIT_INDEX_FILE=$STORE_TMP.project git write-tree
}

# store_fork ID: a fork's store (the parent's objects, from /parent) and
# workspace (the files of checkpoint ID), owned by the sandbox user
store_fork() {
  chmod 700 /store && cp -a /parent/git /store/ || return
  rm -f /store/git/*.lock
  for part in files git; do
    git rev-parse -q --verify "$1:$part" >/dev/null || continue
    dir=/workspace
    [ "$part" = git ] && dir=/workspace/.git && mkdir -p "$dir"
    GIT_INDEX_FILE=/store/index.$part git read-tree "$1:$part" &&
      GIT_INDEX_FILE=/store/index.$part GIT_WORK_TREE=$dir git -c checkout.workers=0 \
        checkout-index -a -f -q || return
  done
  chown -R 1000:1000 /workspace
}
