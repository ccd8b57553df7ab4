// Image names for the local image store, normalised the way `docker images` shows them:
// `app` -> `app:latest`, `docker.io/library/app` -> `app:latest`, `docker.io/me/app` -> `me/app:latest`.
// The grammar is the distribution reference grammar (github.com/distribution/reference).
import { InvalidImageNameError } from "./errors.js";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** Returns the canonical tag name for `name` (always with a tag); throws InvalidImageNameError. */
export function normalizeImageName(name: string): string {
  if (name.includes("@")) throw new InvalidImageNameError(name, "a tag cannot contain a digest (@sha256:...)");
  let repo = name;
  let tag = "latest";
  const lastSlash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  if (colon > lastSlash) {
    repo = name.slice(0, colon);
    tag = name.slice(colon + 1);
    if (!TAG.test(tag)) throw new InvalidImageNameError(name, `tag ${JSON.stringify(tag)} must be 1-128 of [A-Za-z0-9_.-], not starting with . or -`);
  }
  const parts = repo.split("/");
  // The first part is a registry host when it looks like one (as Docker decides).
  const first = parts[0];
  const hasDomain = parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  if (hasDomain && !DOMAIN.test(first)) throw new InvalidImageNameError(name, `${JSON.stringify(first)} is not a valid registry host`);
  const path = hasDomain ? parts.slice(1) : parts;
  for (const component of path) {
    if (!COMPONENT.test(component)) {
      throw new InvalidImageNameError(
        name,
        `${JSON.stringify(component)} is not a valid repository name component (lowercase letters, digits and separators . _ __ -)`,
      );
    }
  }
  const onDockerHub = !hasDomain || first === "docker.io" || first === "index.docker.io";
  const familiar = !onDockerHub ? [first, ...path] : path.length === 2 && path[0] === "library" ? [path[1]] : path;
  const result = `${familiar.join("/")}:${tag}`;
  if (result.length > 255 + tag.length + 1) throw new InvalidImageNameError(name, "the repository name is longer than 255 characters");
  return result;
}
