#!/bin/sh
# Starts the demo SFTP server from its compose secrets:
#   /run/secrets/sftp_host_key            the ed25519 host key the checkpoints pin
#   /run/secrets/sftp_checkpoint_password the password of the `checkpoint` user
#   /etc/ssh/backup_authorized_keys       the public key the `backup` user logs in with
set -eu

# sshd refuses a host key that others can read; a bind-mounted secret keeps the host's mode.
install -m 600 -o root -g root /run/secrets/sftp_host_key /etc/ssh/ssh_host_ed25519_key

if ! id checkpoint >/dev/null 2>&1; then
  useradd --create-home --shell /usr/sbin/nologin checkpoint
fi
# The password file may end with a newline; $(...) drops it.
printf 'checkpoint:%s\n' "$(cat /run/secrets/sftp_checkpoint_password)" | chpasswd
# Where the checkpoints' round trip writes, reads back and deletes its file.
install -d -m 755 -o checkpoint -g checkpoint /home/checkpoint/upload

# The postgres-backup service's login (key only, sshd_config) and the directory its dumps go to,
# on the sftp-backups volume. Group `backups` may list it (setgid: new dumps join the group), which
# is all the checkpoints' backup check needs; the dumps themselves stay private to `backup`.
getent group backups >/dev/null || groupadd backups
if ! id backup >/dev/null 2>&1; then
  useradd --create-home --shell /usr/sbin/nologin --gid backups backup
fi
# No password, but not locked either: without PAM, sshd refuses even a key to a locked account
# (useradd leaves "!"), and "*" matches no password.
usermod -p '*' backup
usermod -a -G backups checkpoint
install -d -m 700 -o backup -g backups /home/backup/.ssh
install -m 600 -o backup -g backups /etc/ssh/backup_authorized_keys /home/backup/.ssh/authorized_keys
install -d -m 755 -o root -g root /srv/backups
install -d -m 2750 -o backup -g backups /srv/backups/postgres

exec /usr/sbin/sshd -D -e
