/**
 * A new organization's name: the person's possessive ("Dana's organization", "James' organization"), or, without a
 * name, their e-mail address as it is ("Organization of you@example.com", never "you's organization"). Sign-up and
 * the importer (an imported owner's organization) name organizations alike.
 */
export function organizationNameFor(name: string | null, email: string): string {
  if (!name) return `Organization of ${email}`;
  return `${name}${/s$/i.test(name) ? "'" : "'s"} organization`;
}
