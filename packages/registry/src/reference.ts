// Image references (`name[:tag][@digest]`) by Docker's rules (github.com/distribution/reference):
// `alpine` is `docker.io/library/alpine:latest`; the first path component is a registry host
// when it has a `.` or `:`, is `localhost`, or has an uppercase letter.

/** Docker Hub's canonical name; its API lives at registry-1.docker.io. */
export const DOCKER_HUB = "docker.io";

export interface ImageReference {
  /** Registry host[:port], normalised (`index.docker.io` -> `docker.io`). */
  registry: string;
  /** Repository path within the registry (`library/alpine`). */
  repository: string;
  /** Tag; `latest` when the text named neither a tag nor a digest. */
  tag?: string;
  /** `sha256:<hex>` when the reference pins a digest. */
  digest?: string;
}

export class InvalidReferenceError extends Error {
  override readonly name = "InvalidReferenceError";
  constructor(
    readonly reference: string,
    readonly reason: string,
  ) {
    super(`invalid image reference ${JSON.stringify(reference)}: ${reason}`);
  }
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST_LABEL = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;
const MAX_NAME = 255;

/** Parses and normalises a reference; throws InvalidReferenceError with the rule it breaks. */
export function parseReference(text: string): ImageReference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(text, reason);
  };
  if (text === "") fail("it is empty");
  if (IMAGE_ID.test(text)) fail("a 64-character hex string is an image ID, not a repository name");

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`digest ${JSON.stringify(digest)} must be "sha256:" and 64 lowercase hex digits`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`tag ${JSON.stringify(tag)} must be 1-128 of [A-Za-z0-9_.-], not starting with . or -`);
  }
  if (rest === "") fail("the repository name is empty");

  const slash = rest.indexOf("/");
  const first = slash < 0 ? "" : rest.slice(0, slash);
  const hasRegistry =
    slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  let registry = DOCKER_HUB;
  let repository = rest;
  if (hasRegistry) {
    if (!DOMAIN.test(first)) fail(`${JSON.stringify(first)} is not a valid registry host[:port]`);
    registry = first === "index.docker.io" ? DOCKER_HUB : first;
    repository = rest.slice(slash + 1);
  }
  const components = repository.split("/");
  for (const c of components) {
    if (c !== c.toLowerCase()) fail("repository names must be lowercase");
    if (!COMPONENT.test(c)) {
      fail(`${JSON.stringify(c)} is not a valid path component (lowercase letters and digits, joined by . _ __ or -)`);
    }
  }
  if (registry === DOCKER_HUB && components.length === 1) repository = `library/${repository}`;
  if (`${hasRegistry ? `${first}/` : ""}${repository}`.length > MAX_NAME) {
    fail(`the name is longer than ${MAX_NAME} characters`);
  }

  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined) ref.tag = "latest";
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

export interface FormatReferenceOptions {
  /** Docker's short form: no `docker.io/`, no `library/` (`alpine:latest`). */
  familiar?: boolean;
}

/** The text of a reference: `registry/repository[:tag][@digest]` (always the registry, unless familiar). */
export function formatReference(ref: ImageReference, options: FormatReferenceOptions = {}): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (options.familiar && ref.registry === DOCKER_HUB) {
    name = ref.repository.startsWith("library/") && ref.repository.split("/").length === 2 ? ref.repository.slice(8) : ref.repository;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** `registry/repository` without tag or digest, for messages about a repository. */
export function repositoryName(ref: Pick<ImageReference, "registry" | "repository">): string {
  return `${ref.registry}/${ref.repository}`;
}
