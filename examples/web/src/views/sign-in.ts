import { type MfaRequired, type SignInResult, ok } from "@atrium/client";
import { APP_CALLBACK, APP_HOME, atrium } from "../atrium";
import { banner, describe, field, form, h, section } from "../ui";

/** Where a completed sign-in goes: the gallery. */
export type Navigate = (path: string) => void;

/** Ends a first factor: home when signed in, else the second step on the same page. */
export function finishSignIn(root: HTMLElement, result: SignInResult, navigate: Navigate): void {
	if (result.status === "signed_in") navigate("/");
	else root.replaceChildren(mfaStep(result.challenge, navigate));
}

/** The second step: a code from the authenticator app, or one of the recovery codes. */
export function mfaStep(challenge: MfaRequired, navigate: Navigate): HTMLElement {
	return section(
		"Two-step verification",
		h("p", {}, "Enter the 6-digit code from your authenticator app, or a recovery code."),
		form(
			"Verify",
			[field("Code", "code", "text", { inputmode: "numeric", autocomplete: "one-time-code" })],
			async ({ code = "" }) => {
				const answer = /^\d{6}$/.test(code.trim()) ? { code: code.trim() } : { recovery_code: code.trim() };
				await atrium.auth.completeMfa(challenge, answer);
				navigate("/");
			},
		),
	);
}

/** Signs in with a passkey the browser holds for this site (it asks which one). */
function passkeyButton(navigate: Navigate): HTMLButtonElement {
	const button = h("button", { class: "secondary", type: "button" }, "Sign in with a passkey");
	button.addEventListener("click", async () => {
		try {
			await atrium.auth.signInWithPasskey();
			navigate("/");
		} catch (error) {
			banner(describe(error), "error");
		}
	});
	return button;
}

/** The signed-out page: sign in, create an account, reset a password, or use a provider. */
export async function signInPage(root: HTMLElement, navigate: Navigate): Promise<void> {
	const providers = await ok(atrium.api.GET("/v1/auth/oauth")).catch(() => ({ providers: [] }));
	const signIn = section(
		"Sign in",
		form(
			"Sign in",
			[
				field("Email", "email", "email", { autocomplete: "username" }),
				field("Password", "password", "password", { autocomplete: "current-password" }),
			],
			async ({ email = "", password = "" }) =>
				finishSignIn(root, await atrium.auth.signIn({ email, password }), navigate),
			{ id: "sign-in" },
		),
		providers.providers.length > 0 &&
			h(
				"div",
				{ class: "providers" },
				...providers.providers.map((provider) =>
					h(
						"a",
						{ class: "button secondary", href: atrium.auth.oauthUrl(provider.id, APP_CALLBACK) },
						`Continue with ${provider.name}`,
					),
				),
			),
	);
	const passwordless = section(
		"Sign in without a password",
		form(
			"Email me a link",
			[field("Email", "email", "email", { autocomplete: "email" })],
			async ({ email = "" }) => {
				await atrium.auth.requestMagicLink({ email, redirect_to: APP_CALLBACK });
				banner(`Check ${email}: the mail has a sign-in link and a code.`);
			},
			{ id: "magic-link" },
		),
		form(
			"Sign in with the code",
			[
				field("Email", "email", "email"),
				field("Code", "code", "text", { inputmode: "numeric", autocomplete: "one-time-code" }),
			],
			async ({ email = "", code = "" }) =>
				finishSignIn(root, await atrium.auth.verifyMagicLink({ email, code: code.trim() }), navigate),
			{ id: "email-code" },
		),
		h("p", {}, passkeyButton(navigate)),
	);
	const register = section(
		"Create an account",
		form(
			"Create account",
			[
				field("Name", "name", "text", { required: false, autocomplete: "name" }),
				field("Email", "email", "email", { autocomplete: "email" }),
				field("Password", "password", "password", { autocomplete: "new-password", minlength: "8" }),
			],
			async ({ name, email = "", password = "" }, element) => {
				const body = { email, password, redirect_to: APP_HOME, ...(name ? { name } : {}) };
				await ok(atrium.api.POST("/v1/auth/register", { body }));
				element.reset();
				banner(`Almost there: we sent a confirmation link to ${email}.`);
			},
			{ id: "register" },
		),
	);
	const forgot = section(
		"Forgot your password?",
		form("Send reset link", [field("Email", "email", "email")], async ({ email = "" }) => {
			await ok(atrium.api.POST("/v1/auth/password/forgot", { body: { email, redirect_to: APP_HOME } }));
			banner(`If ${email} has an account, a reset link is on its way.`);
		}),
	);
	root.replaceChildren(h("div", { class: "columns" }, signIn, passwordless, register, forgot));
}

/** `/callback?code=` (or `?error=`): where a provider sign-in comes back to. */
export async function callbackPage(root: HTMLElement, navigate: Navigate): Promise<void> {
	const params = new URLSearchParams(location.search);
	const code = params.get("code");
	if (!code) {
		banner(`Sign-in did not complete (${params.get("error") ?? "no code"}).`, "error");
		navigate("/");
		return;
	}
	finishSignIn(root, await atrium.auth.exchangeCode(code), navigate);
}
