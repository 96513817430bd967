#!/usr/bin/env bash
# One-command set-up for pdekit (called by `make setup`; safe to re-run).
#
#  1. find a Python that can `import dolfinx` (FEniCSx); on Debian/Ubuntu as root,
#     install it with apt if missing; otherwise explain how to get it and go on
#     without it (tests that need dolfinx then skip);
#  2. build .venv from that Python with --system-site-packages (so dolfinx,
#     petsc4py, mpi4py from the system stay importable);
#  3. install torch (CPU wheel, found on disk via pip's config) and pdekit in
#     editable mode with the dev, notebooks and deepxde extras.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
PIP_Q=(-q)   # quiet, errors still shown
# System libraries the PyPI gmsh wheel's libgmsh.so links against (GLU, X11 bits,
# fontconfig); minimal Debian images lack them and `import gmsh` then fails with
# "OSError: lib....so.1: cannot open shared object file".
# (list from `readelf -d libgmsh.so` + `dpkg -S`, gmsh 4.15)
GMSH_DEBS=(libglu1-mesa libgl1 libx11-6 libxext6 libxrender1 libxcursor1 libxfixes3
           libxft2 libxinerama1 libfontconfig1 libgomp1)

log()  { printf '[setup] %s\n' "$*"; }
have_dolfinx() { "$1" -c 'import dolfinx' >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }
can_apt() { is_root && command -v apt-get >/dev/null 2>&1; }
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" = 0 ]; then apt-get update -q; APT_UPDATED=1; fi
}

# --- 1. a base Python with dolfinx ----------------------------------------------
BASE=""
for cand in /usr/bin/python3 "$(command -v python3 || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && have_dolfinx "$cand"; then BASE=$cand; break; fi
done
if [ -z "$BASE" ]; then
    if can_apt; then
        log "dolfinx not found: installing python3-dolfinx-real with apt (about a minute)"
        apt_update_once
        # python3-venv: Debian's python3 has no ensurepip without it, so `-m venv` fails.
        # python3-h5py: see "h5py" below.
        # python3-dev: headers for the C that FFCx (forms) and torch.compile (kernels) build at run time
        apt_install python3-dolfinx-real python3-venv python3-h5py python3-dev "${GMSH_DEBS[@]}"
        BASE=/usr/bin/python3
        have_dolfinx "$BASE" || { log "ERROR: apt installed dolfinx but '$BASE -c \"import dolfinx\"' fails"; exit 1; }
    else
        cat >&2 <<'MSG'
[setup] WARNING: no Python with dolfinx (FEniCSx) found, and cannot install it here
[setup]          (not root, or no apt-get). To get it, either:
[setup]            conda install -c conda-forge fenics-dolfinx   (then re-run `make setup`
[setup]                                                          from that environment)
[setup]            sudo apt-get install python3-dolfinx-real     (Debian 12 / Ubuntu)
[setup]          Continuing without it: everything else installs and runs; tests that
[setup]          need dolfinx are skipped.
MSG
        BASE=$(command -v python3 || true)
        [ -n "$BASE" ] || { log "ERROR: no python3 on PATH"; exit 1; }
    fi
fi
log "base python: $BASE ($("$BASE" -c 'import sys; print(sys.version.split()[0])'))"

# Debian's python3 needs python3-venv for ensurepip.
if ! "$BASE" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if can_apt && [ "$BASE" = /usr/bin/python3 ]; then
        apt_update_once; apt_install python3-venv
    else
        log "ERROR: '$BASE -m venv' is unavailable (install python3-venv)"; exit 1
    fi
fi

# --- 2. the virtual environment ------------------------------------------------
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "$VENV is broken: recreating"; rm -rf "$VENV"
fi
# A venv built before dolfinx was available (or from another python) cannot see it.
if [ -x "$VENV/bin/python" ] && have_dolfinx "$BASE" && ! have_dolfinx "$VENV/bin/python"; then
    log "$VENV cannot import dolfinx although $BASE can: recreating it from $BASE"; rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV from $BASE (--system-site-packages)"
    "$BASE" -m venv --system-site-packages "$VENV"
fi
PY=$VENV/bin/python

# --- 3. packages ---------------------------------------------------------------
# h5py: the PyPI wheel bundles its own HDF5 (2.0 in h5py 3.16). Once dolfinx has loaded
# Debian's HDF5 1.10 (through PETSc), `import h5py` fails ("ValueError: Not a datatype")
# and the two libraries would mix anyway. With dolfinx from the system we therefore use
# the system's h5py (Debian: python3-h5py, built on that HDF5). Debian registers it under
# another distribution name (h5py._debian_h5py_serial), so pip would still fetch the
# wheel for pdekit's `h5py` requirement: a metadata-only h5py.dist-info in the venv
# tells pip the requirement is met, and `import h5py` finds the system package.
if have_dolfinx "$PY"; then
    if ! "$BASE" -c 'import h5py' >/dev/null 2>&1 && can_apt && [ "$BASE" = /usr/bin/python3 ]; then
        log "installing python3-h5py (h5py built on the HDF5 dolfinx uses)"
        apt_update_once; apt_install python3-h5py
    fi
    SYS_H5PY=$("$BASE" -c 'import h5py; print(h5py.__version__)' 2>/dev/null || true)
    if [ -n "$SYS_H5PY" ]; then
        SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        if [ -d "$SITE/h5py" ]; then
            log "removing the PyPI h5py wheel from $VENV (it clashes with dolfinx's HDF5)"
            "$PY" -m pip uninstall -y -q h5py
        fi
        SHIM=$SITE/h5py-$SYS_H5PY.dist-info
        if [ ! -f "$SHIM/METADATA" ]; then
            rm -rf "$SITE"/h5py-*.dist-info
            mkdir -p "$SHIM"
            printf 'Metadata-Version: 2.1\nName: h5py\nVersion: %s\nSummary: placeholder: the system h5py (%s) is used\n' \
                "$SYS_H5PY" "$("$BASE" -c 'import h5py; print(h5py.__file__)')" > "$SHIM/METADATA"
            echo "pdekit-setup" > "$SHIM/INSTALLER"
            printf '%s\n' "h5py-$SYS_H5PY.dist-info/METADATA,," "h5py-$SYS_H5PY.dist-info/INSTALLER,," \
                "h5py-$SYS_H5PY.dist-info/RECORD,," > "$SHIM/RECORD"
        fi
    fi
fi

if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    # pip's configuration finds the CPU wheel on disk; with no such config, PyPI's
    # Linux wheel pulls CUDA libraries: point pip at PyTorch's CPU-only wheel index instead
    log "installing torch==2.13.0 (CPU)"
    "$PY" -m pip install "${PIP_Q[@]}" torch==2.13.0
fi
log "installing pdekit (editable) with extras dev, notebooks, deepxde"
"$PY" -m pip install "${PIP_Q[@]}" -e '.[dev,notebooks,deepxde]' 'numpy<2'

if ! "$PY" -c 'import gmsh' >/dev/null 2>&1; then
    if can_apt; then
        log "import gmsh fails: installing the system libraries it needs"
        apt_update_once; apt_install "${GMSH_DEBS[@]}"
    fi
    "$PY" -c 'import gmsh' || log "WARNING: import gmsh fails (see above); meshing from gmsh is unavailable"
fi

if have_dolfinx "$PY" && ! "$PY" -c 'import dolfinx, h5py' >/dev/null 2>&1; then
    log "WARNING: 'import dolfinx, h5py' fails in $VENV: h5py must be built on dolfinx's HDF5."
    log "         Install the system h5py (sudo apt-get install python3-h5py, or conda's h5py),"
    log "         then: rm -f $VENV/.pdekit-installed && make setup"
fi

# --- summary -------------------------------------------------------------------
DDE_BACKEND=pytorch "$PY" - <<'PYEOF'
import importlib
out = []
for name in ["numpy", "torch", "dolfinx", "h5py", "deepxde", "gmsh", "xarray", "pdekit"]:
    try:
        m = importlib.import_module(name)
        out.append(f"{name} {getattr(m, '__version__', 'ok')}")
    except Exception as e:  # report, do not fail: dolfinx may be legitimately absent
        out.append(f"{name} MISSING ({type(e).__name__})")
print("[setup] " + ", ".join(out))
PYEOF
log "done: run 'make test' or 'make demo'"
