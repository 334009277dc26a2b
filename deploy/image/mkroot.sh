#!/bin/sh
# Used inside the Dockerfile's build stage: assembles /rootfs, the whole runtime image: the stripped kobs
# (/kobs), the given extra files (libchdb.so), every shared library ldd lists for them, CA certificates,
# a non-root user (65532), /tmp and the data directory.
set -eu
root=/rootfs
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/var/lib/kobs"
chmod 1777 "$root/tmp"
cp /kobs "$root/usr/bin/kobs"
for f in "$@"; do
  mkdir -p "$root$(dirname "$f")"
  cp "$f" "$root$f"
done
for t in /kobs "$@"; do
  for l in $(ldd "$t" | awk '/=> \// {print $3} /^\t\/lib64\// {print $1}'); do
    mkdir -p "$root$(dirname "$l")"
    cp -L "$l" "$root$l"
  done
done
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/:/usr/sbin/nologin\nkobs:x:65532:65532:kobs:/var/lib/kobs:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nkobs:x:65532:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
chown 65532:65532 "$root/var/lib/kobs"
