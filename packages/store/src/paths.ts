// Where things live in a store, laid out like /var/lib/docker:
//   blobs/sha256/<hex>          content-addressed blobs (layers, configs, manifests), read-only
//   layers/<diffID hex>/        layer.json (the LayerRecord) + diff/ (the unpacked layer, overlay upper format)
//   cache/<key hex>.json        build cache records
//   images.json                 tags (the local image store)
//   roots/<name>.json           GC roots besides the tags, written by store users (see gc-roots.ts)
//   statcache/<hex>.bin         stat caches of build contexts (stat-cache.ts)
//   tmp/                        temp files and dirs, same filesystem, so renames out of it are atomic
//   snapshots/ volumes/         used by the layer engine and executor
//   cache-mounts/<id hash>/     RUN --mount=type=cache directories (never in a layer)
//   containers/<id>/            working containers (@tsbuild/containers): record, upper/, work/, merged/
//   locks/                      lock files (see lock.ts)
import path from "node:path";
import { digestHex } from "@tsbuild/oci";

export interface StorePaths {
  root: string;
  blobs: string;
  layers: string;
  cache: string;
  images: string;
  roots: string;
  statCache: string;
  tmp: string;
  snapshots: string;
  volumes: string;
  containers: string;
  cacheMounts: string;
  locks: string;
}

export function storePaths(root: string): StorePaths {
  const abs = path.resolve(root);
  return {
    root: abs,
    blobs: path.join(abs, "blobs", "sha256"),
    layers: path.join(abs, "layers"),
    cache: path.join(abs, "cache"),
    images: path.join(abs, "images.json"),
    roots: path.join(abs, "roots"),
    statCache: path.join(abs, "statcache"),
    tmp: path.join(abs, "tmp"),
    snapshots: path.join(abs, "snapshots"),
    volumes: path.join(abs, "volumes"),
    containers: path.join(abs, "containers"),
    cacheMounts: path.join(abs, "cache-mounts"),
    locks: path.join(abs, "locks"),
  };
}

export const blobFile = (p: StorePaths, digest: string) => path.join(p.blobs, digestHex(digest));
export const layerRoot = (p: StorePaths, diffID: string) => path.join(p.layers, digestHex(diffID));

/**
 * The store root when none is given: /var/lib/tsbuild for root, else $XDG_DATA_HOME/tsbuild
 * (~/.local/share/tsbuild). TSBUILD_ROOT overrides both.
 */
export function defaultStoreRoot(env: Record<string, string | undefined>, uid: number): string {
  if (env.TSBUILD_ROOT) return env.TSBUILD_ROOT;
  if (uid === 0) return "/var/lib/tsbuild";
  if (env.XDG_DATA_HOME) return path.join(env.XDG_DATA_HOME, "tsbuild");
  if (env.HOME) return path.join(env.HOME, ".local", "share", "tsbuild");
  throw new Error("cannot choose a store directory: neither XDG_DATA_HOME nor HOME is set; set TSBUILD_ROOT or pass --root");
}
