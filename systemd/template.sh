#!/usr/bin/env bash
# Print siamese-edge@.service, the template unit for one daemon per camera (siamese-edge@NAME reads
# /etc/siamese-edge/NAME.yaml and keeps its own state and snapshots under /var/lib/siamese-edge/NAME/),
# derived from siamese-edge.service so that the hardening is written once. Every substitution must
# apply: a line that no longer matches fails here rather than installing a unit that shares state.
set -euo pipefail
unit="$(dirname "${BASH_SOURCE[0]}")/siamese-edge.service"
out="$(sed -e 's|^Description=siamese-edge face recognition$|Description=siamese-edge face recognition (camera %i)|' \
           -e 's|--config /etc/siamese-edge/config.yaml$|--config /etc/siamese-edge/%i.yaml|' \
           -e 's|^StateDirectory=siamese-edge/state$|StateDirectory=siamese-edge/%i/state|' \
           -e 's|^ReadWritePaths=-/var/lib/siamese-edge/snapshots$|ReadWritePaths=-/var/lib/siamese-edge/%i/snapshots|' \
           -e 's|journalctl -u siamese-edge -f|journalctl -u siamese-edge@NAME -f|' \
           -e 's|systemctl reload siamese-edge$|systemctl reload siamese-edge@NAME|' \
           "$unit")"
for expected in 'Description=siamese-edge face recognition (camera %i)' '--config /etc/siamese-edge/%i.yaml' \
                'StateDirectory=siamese-edge/%i/state' 'ReadWritePaths=-/var/lib/siamese-edge/%i/snapshots'; do
    grep -qF -- "$expected" <<<"$out" || { echo "template.sh: '$expected' not produced from $unit" >&2; exit 1; }
done
printf '%s\n' "$out"
