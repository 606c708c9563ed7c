#!/bin/sh
# Starts the demo SFTP server from its compose secrets:
#   /run/secrets/sftp_host_key            the ed25519 host key the checkpoints pin
#   /run/secrets/sftp_checkpoint_password the password of the `checkpoint` user
# and from a bind mount:
#   /etc/ssh/backup_authorized_keys       the public key the `pgbackup` user logs in with
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

# The postgres-backup service's login (key only, chrooted to /srv/backups: sshd_config) and the
# directory its dumps go to, on the sftp-backups volume. Group `backup-readers` may list it
# (setgid: new dumps join the group), which is all the checkpoints' backup check needs; the dumps
# themselves stay private to `pgbackup`. (Not `backup`: Debian has that system user already.)
getent group backup-readers >/dev/null || groupadd backup-readers
if ! id pgbackup >/dev/null 2>&1; then
  useradd --create-home --shell /usr/sbin/nologin --gid backup-readers pgbackup
fi
# No password, but not locked either: without PAM, sshd refuses even a key to a locked account
# (useradd leaves "!"), and "*" matches no password.
usermod -p '*' pgbackup
usermod -a -G backup-readers checkpoint
install -d -m 700 -o pgbackup -g backup-readers /home/pgbackup/.ssh
install -m 600 -o pgbackup -g backup-readers /etc/ssh/backup_authorized_keys /home/pgbackup/.ssh/authorized_keys
# The chroot must be root's and writable by nobody else (sshd refuses it otherwise).
install -d -m 755 -o root -g root /srv/backups
install -d -m 2750 -o pgbackup -g backup-readers /srv/backups/postgres

exec /usr/sbin/sshd -D -e
