#!/bin/sh
# Starts the demo SFTP server from its compose secrets:
#   /run/secrets/sftp_host_key            the ed25519 host key the checkpoints pin
#   /run/secrets/sftp_checkpoint_password the password of the `checkpoint` user
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

exec /usr/sbin/sshd -D -e
