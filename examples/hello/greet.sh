#!/bin/sh
echo "${GREETING:-hi} from tsbuild example @VERSION@, running as $(id -un)"
