// USER resolution, as BuildKit does it: "uid:gid" (both numeric) is taken as is; anything else
// goes through the image's /etc/passwd and /etc/group with runc's libcontainer rules.

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

/** A USER value names a user or group the image does not define. */
export class UnknownUserError extends Error {
  constructor(
    readonly user: string,
    readonly kind: "user" | "group",
    /** The user or group name that has no entry. */
    readonly missing: string,
    fileExists: boolean,
  ) {
    const file = kind === "user" ? "/etc/passwd" : "/etc/group";
    super(
      `USER ${user}: no ${kind} named "${missing}" in the image's ${file}` +
        (fileExists ? "" : ` (the image has no ${file})`) +
        `; create it in an earlier RUN (e.g. adduser) or use a numeric id`,
    );
    this.name = "UnknownUserError";
  }
}

/** A USER value that cannot be parsed or is out of range. */
export class InvalidUserError extends Error {
  constructor(
    readonly user: string,
    reason: string,
  ) {
    super(`USER ${user}: ${reason}`);
    this.name = "InvalidUserError";
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

// Kernel ids are 32 bits, but runc (and so Docker) refuses anything above 2^31-1.
const MAX_ID = 2 ** 31 - 1;

function parseId(text: string): number | undefined {
  return /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

// Lines with too few fields or non-numeric ids are skipped: such a line can never be matched
// by a system tool either, and guessing id 0 for it (as a naive parser would) would be unsafe.
function* records(text: string | undefined, minFields: number): Generator<string[]> {
  for (const line of (text ?? "").split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const fields = trimmed.split(":");
    if (fields.length >= minFields) yield fields;
  }
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const [name, , uidText, gidText] of records(text, 4)) {
    const uid = parseId(uidText);
    const gid = parseId(gidText);
    if (uid !== undefined && gid !== undefined) entries.push({ name, uid, gid });
  }
  return entries;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const [name, , gidText, list = ""] of records(text, 3)) {
    const gid = parseId(gidText);
    if (gid === undefined) continue;
    entries.push({ name, gid, members: list.split(",").filter((member) => member !== "") });
  }
  return entries;
}

// "root" counts as numeric 0 on BuildKit's fast path, so "root:0" needs no /etc/passwd.
function fastPathId(text: string): number | undefined {
  return text === "root" ? 0 : parseId(text);
}

function checkRange(user: string, id: number): number {
  if (id > MAX_ID) throw new InvalidUserError(user, `id ${id} is out of range 0-${MAX_ID}`);
  return id;
}

/**
 * Resolves a USER value ("name", "uid", "name:group", "uid:gid", …) through the text of the
 * image's /etc/passwd and /etc/group (undefined when the file is absent).
 */
export function resolveUser(user: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  if (user === "") return { uid: 0, gid: 0, additionalGids: [] };
  const colon = user.indexOf(":");
  const userPart = colon === -1 ? user : user.slice(0, colon);
  const groupPart = colon === -1 ? "" : user.slice(colon + 1);
  if (groupPart.includes(":")) throw new InvalidUserError(user, 'expected "user" or "user:group"');

  if (colon !== -1) {
    const uid = fastPathId(userPart);
    const gid = fastPathId(groupPart);
    if (uid !== undefined && gid !== undefined) {
      return { uid: checkRange(user, uid), gid: checkRange(user, gid), additionalGids: [] };
    }
  }

  // An empty user part means root, as in libcontainer.
  const numericUid = userPart === "" ? 0 : parseId(userPart);
  const entry = parsePasswd(passwd).find((candidate) =>
    numericUid !== undefined ? candidate.uid === numericUid : candidate.name === userPart,
  );
  if (entry === undefined && numericUid === undefined) {
    throw new UnknownUserError(user, "user", userPart, passwd !== undefined);
  }
  const uid = checkRange(user, entry?.uid ?? numericUid!);
  let gid = entry?.gid ?? 0;
  const groups = parseGroup(group);

  if (groupPart !== "") {
    const numericGid = parseId(groupPart);
    const match = groups.find((candidate) =>
      numericGid !== undefined ? candidate.gid === numericGid : candidate.name === groupPart,
    );
    if (match === undefined && numericGid === undefined) {
      throw new UnknownUserError(user, "group", groupPart, group !== undefined);
    }
    gid = match?.gid ?? numericGid!;
    return { uid, gid: checkRange(user, gid), additionalGids: [] };
  }

  // Supplementary groups only in the implicit form, and only for a user with a passwd entry.
  const additionalGids =
    entry === undefined ? [] : groups.filter((candidate) => candidate.members.includes(entry.name)).map((g) => g.gid);
  return { uid, gid, additionalGids };
}
