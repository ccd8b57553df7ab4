// WWW-Authenticate challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
// One header may carry several challenges separated by commas, so parameters and the next
// scheme are told apart by the `=` that follows a parameter name.

export interface AuthChallenge {
  /** Lowercase scheme: "bearer", "basic", … */
  scheme: string;
  /** Parameters with lowercase names (realm, service, scope, error). */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** All challenges in the given header values; malformed tails are dropped, never thrown. */
export function parseWwwAuthenticate(headers: string | readonly string[] | undefined): AuthChallenge[] {
  const values = headers === undefined ? [] : typeof headers === "string" ? [headers] : headers;
  const challenges: AuthChallenge[] = [];
  for (const value of values) challenges.push(...parseOne(value));
  return challenges;
}

function parseOne(input: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  let s = input;
  const skip = (re: RegExp) => {
    s = s.replace(re, "");
  };
  while (true) {
    skip(/^[\s,]+/);
    const scheme = TOKEN.exec(s);
    if (!scheme) break;
    s = s.slice(scheme[0].length);
    const challenge: AuthChallenge = { scheme: scheme[0].toLowerCase(), params: {} };
    out.push(challenge);
    // Parameters: name = (token | quoted-string), separated by commas.
    while (true) {
      const save = s;
      skip(/^[\s,]+/);
      const name = TOKEN.exec(s);
      if (!name) break;
      const afterName = s.slice(name[0].length).replace(/^\s*/, "");
      if (!afterName.startsWith("=")) {
        s = save; // the next scheme, or token68 we do not use
        break;
      }
      s = afterName.slice(1).replace(/^\s*/, "");
      let value: string;
      if (s.startsWith('"')) {
        value = "";
        let i = 1;
        for (; i < s.length && s[i] !== '"'; i++) value += s[i] === "\\" && i + 1 < s.length ? s[++i] : s[i];
        s = s.slice(i + 1);
      } else {
        const token = /^[^\s,]*/.exec(s)![0];
        value = token;
        s = s.slice(token.length);
      }
      challenge.params[name[0].toLowerCase()] = value;
    }
    if (s.length > 0 && !/^[\s,]/.test(s)) break;
  }
  return out;
}
