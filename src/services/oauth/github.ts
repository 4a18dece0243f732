import { GitHub } from "arctic";
import { z } from "zod";
import { arcticCall, fetchProviderJson } from "./http";
import type { OAuthIdentity, OAuthProvider } from "./types";

const API = "https://api.github.com";
const ACCEPT = "application/vnd.github+json";
// user:email is what makes the emails API answer; read:user gives the profile.
const SCOPES = ["read:user", "user:email"];

const userSchema = z.object({ id: z.number().int(), login: z.string(), name: z.string().nullable().optional() });
const emailsSchema = z.array(z.object({ email: z.string(), primary: z.boolean(), verified: z.boolean() }));

/**
 * GitHub's OAuth apps have no ID token, so the identity is the numeric user id (logins can be
 * renamed and reused) and the email is the primary address of the emails API, verified only when
 * GitHub says so. The public profile email is not used: anyone can type any address there.
 */
export function githubProvider(clientId: string, clientSecret: string, redirectUri: string): OAuthProvider {
	const client = new GitHub(clientId, clientSecret, redirectUri);
	return {
		id: "github",
		name: "GitHub",
		async createAuthorizationURL(state) {
			return client.createAuthorizationURL(state, SCOPES);
		},
		async validateCallback(code): Promise<OAuthIdentity> {
			const tokens = await arcticCall(() => client.validateAuthorizationCode(code));
			const accessToken = await arcticCall(async () => tokens.accessToken());
			const [user, emails] = await Promise.all([
				fetchProviderJson(`${API}/user`, userSchema, accessToken, ACCEPT),
				fetchProviderJson(`${API}/user/emails`, emailsSchema, accessToken, ACCEPT),
			]);
			const primary = emails.find((entry) => entry.primary);
			return {
				providerUserId: String(user.id),
				email: primary?.email ?? null,
				emailVerified: primary?.verified === true,
				name: user.name ?? user.login,
			};
		},
	};
}
