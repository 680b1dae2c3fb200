#!/bin/sh
# Orchestrator container entrypoint: starts as root only to make the data volume
# writable, then drops to an unprivileged user for good and runs the command under
# tini. Every step is an exec, so tini ends up as PID 1, running unprivileged: it
# forwards SIGTERM to the server and reaps agents' orphaned processes.
#
# Why: a bind mount such as ./data is created root-owned by Docker on a fresh clone,
# so an unprivileged process could not create the database there. Compose gives this
# script just CHOWN, DAC_OVERRIDE, SETUID and SETGID; changing to a non-zero uid
# clears them all, and no-new-privileges stops anything from getting them back.
#
# Which user: HARNESS_UID/HARNESS_GID when set; otherwise the owner of /workspace when
# that is not root, so agents' commits in the mounted repository belong to the person
# who owns it (and git does not refuse it as "dubious ownership"); otherwise 10001.
#
# Secrets: tini stays PID 1 for the container's whole life and, unlike the server, is
# dumpable, so whatever is in its environment can be read at /proc/1/environ by every
# process of the same user, agents included. So each secret the environment brings
# (HARNESS_API_TOKEN, ANTHROPIC_API_KEY, TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET) is
# moved into a file under /tmp/harness-secrets (the container's tmpfs: never in the
# image, gone with the container), readable by the server's user only, and replaced by
# its `*_FILE` variable, which the server reads. Agents cannot read those files: the
# sandbox grants them no part of /tmp but their own private directory.
set -eu

data_dir=$(dirname "${DATABASE_PATH:-/app/data/harness.db}")
workspace=${HARNESS_WORKSPACE:-/workspace}

log() {
    echo "docker-entrypoint: $*" >&2
}

secrets_dir=/tmp/harness-secrets

# Moves each secret from the environment into a file of $secrets_dir owned by $1:$2
# and exports NAME_FILE instead. A NAME_FILE already set (Docker secrets) is left alone,
# and so is NAME then: the server refuses both at once, saying which to drop.
secrets_to_files() {
    (umask 077 && mkdir -p "$secrets_dir")
    chown "$1:$2" "$secrets_dir" 2>/dev/null || true
    for name in HARNESS_API_TOKEN ANTHROPIC_API_KEY TELEGRAM_BOT_TOKEN TELEGRAM_WEBHOOK_SECRET; do
        eval "value=\${$name:-}"
        eval "file=\${${name}_FILE:-}"
        if [ -z "$value" ] || [ -n "$file" ]; then
            continue
        fi
        file="$secrets_dir/$name"
        rm -f "$file"
        (umask 077 && printf '%s' "$value" >"$file")
        # chmod while we still own it: the container keeps CAP_CHOWN but not
        # CAP_FOWNER, so the mode of a file already handed over cannot change.
        chmod 0400 "$file"
        chown "$1:$2" "$file" 2>/dev/null || true
        export "${name}_FILE=$file"
        unset "$name"
    done
    value=
}

if [ "$(id -u)" != 0 ]; then
    # Already unprivileged (for example `docker run --user`): only the secrets to move.
    secrets_to_files "$(id -u)" "$(id -g)"
    exec /usr/bin/tini -- "$@"
fi

owner_uid=$(stat -c %u "$workspace" 2>/dev/null || echo 0)
owner_gid=$(stat -c %g "$workspace" 2>/dev/null || echo 0)
if [ "$owner_uid" = 0 ]; then
    owner_uid=10001
    owner_gid=10001
fi
run_uid=${HARNESS_UID:-$owner_uid}
run_gid=${HARNESS_GID:-$owner_gid}
if [ "$run_uid" = 0 ]; then
    log "refusing to run as root (HARNESS_UID=0); pick a non-zero uid"
    exit 1
fi

mkdir -p "$data_dir"
worktrees_dir=${HARNESS_WORKTREES_DIR:-$data_dir/worktrees}
# Only what is not ours yet, so a large data directory is not rewritten each start.
# Agents write in the worktrees: that tree is pruned, never walked, and `chown -h`
# changes a symlink itself, never what it points to (find -P does not follow either),
# so a link an agent planted cannot hand a system file to the server's user.
find -P "$data_dir" -xdev -path "$worktrees_dir" -prune -o \
    \( ! -user "$run_uid" -o ! -group "$run_gid" \) \
    -exec chown -h "$run_uid:$run_gid" {} +

# A writable home for git and agent CLIs; the root filesystem is read-only.
export HOME=/tmp/home
mkdir -p "$HOME"
chown "$run_uid:$run_gid" "$HOME"

workspace_uid=$(stat -c %u "$workspace" 2>/dev/null || echo none)
if [ "$workspace_uid" != "$run_uid" ]; then
    log "note: $workspace belongs to uid $workspace_uid, the server runs as uid $run_uid; set HARNESS_UID if agents cannot write there"
fi

# Supplementary groups the container was given (compose `group_add`, such as the Docker
# socket's group in docker-compose.executor.yml) are kept; root's group 0 never is.
extra_groups=$(id -G | tr ' ' '\n' | grep -vx 0 | paste -sd, - || true)
if [ -n "$extra_groups" ]; then
    groups_opt="--groups=$extra_groups"
else
    groups_opt=--clear-groups
fi
secrets_to_files "$run_uid" "$run_gid"
exec setpriv --reuid="$run_uid" --regid="$run_gid" "$groups_opt" -- /usr/bin/tini -- "$@"
