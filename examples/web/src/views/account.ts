import { ok } from "@atrium/client";
import { APP_SETTINGS, atrium } from "../atrium";
import { banner, describe, field, form, h, section } from "../ui";

type Rerender = () => Promise<void>;

/** Runs a button's action, reporting failure in the banner and re-rendering on success. */
function act(label: string, action: () => Promise<unknown>, rerender: Rerender, kind = "secondary"): HTMLButtonElement {
	const button = h("button", { class: kind }, label);
	button.addEventListener("click", async () => {
		button.disabled = true;
		try {
			await action();
			await rerender();
		} catch (error) {
			banner(describe(error), "error");
			button.disabled = false;
		}
	});
	return button;
}

async function profileSection(rerender: Rerender): Promise<HTMLElement> {
	const me = await ok(atrium.api.GET("/v1/me"));
	const avatar = h("input", { type: "file", accept: "image/*", "aria-label": "Avatar" });
	avatar.addEventListener("change", async () => {
		const file = avatar.files?.[0];
		if (!file) return;
		await atrium.images
			.setAvatar(file)
			.then(rerender)
			.catch((error) => banner(describe(error), "error"));
	});
	return section(
		"Profile",
		h(
			"div",
			{ class: "profile" },
			me.avatar_url
				? h("img", { class: "avatar", src: me.avatar_url, alt: "Your avatar" })
				: h("div", { class: "avatar" }),
			h("div", {}, h("strong", {}, me.name ?? me.email), h("div", {}, me.email)),
		),
		h("label", { class: "button secondary" }, "Change avatar", avatar),
		form("Save name", [field("Name", "name", "text", { value: me.name ?? "" })], async ({ name = "" }) => {
			await ok(atrium.api.PATCH("/v1/me", { body: { name: name || null } }));
			banner("Name saved.");
			await rerender();
		}),
	);
}

function passwordSection(hasPassword: boolean): HTMLElement {
	const fields = [field("New password", "new_password", "password", { autocomplete: "new-password" })];
	if (hasPassword)
		fields.unshift(field("Current password", "current_password", "password", { autocomplete: "current-password" }));
	return section(
		hasPassword ? "Change password" : "Set a password",
		form(
			"Save password",
			fields,
			async ({ current_password, new_password = "" }, element) => {
				await ok(
					atrium.api.PUT("/v1/me/password", {
						body: { new_password, ...(current_password ? { current_password } : {}) },
					}),
				);
				element.reset();
				banner("Password changed. Other sessions were signed out.");
			},
			{ id: "change-password" },
		),
	);
}

async function twoFactorSection(totpOn: boolean, rerender: Rerender): Promise<HTMLElement> {
	if (totpOn) {
		return section(
			"Two-step verification: on",
			form("Turn off", [field("Code", "code", "text", { inputmode: "numeric" })], async ({ code = "" }) => {
				await ok(atrium.api.DELETE("/v1/me/mfa/totp", { body: { code } }));
				await rerender();
			}),
		);
	}
	const body = h("div", {});
	body.append(
		act(
			"Set up an authenticator app",
			async () => {
				const { secret, otpauth_uri } = await ok(atrium.api.POST("/v1/me/mfa/totp"));
				body.replaceChildren(
					h("p", {}, "Add this key to your authenticator app, then enter the code it shows."),
					h("code", { id: "totp-secret", "data-otpauth": otpauth_uri }, secret),
					form(
						"Verify and turn on",
						[field("Code", "code", "text", { inputmode: "numeric" })],
						async ({ code = "" }) => {
							const { recovery_codes } = await ok(atrium.api.POST("/v1/me/mfa/totp/verify", { body: { code } }));
							body.replaceChildren(
								h("p", {}, "Two-step verification is on. Keep these recovery codes somewhere safe:"),
								h("ul", { id: "recovery-codes" }, ...recovery_codes.map((item) => h("li", {}, h("code", {}, item)))),
								act("Done", async () => {}, rerender),
							);
						},
					),
				);
			},
			async () => {},
		),
	);
	return section("Two-step verification: off", body);
}

function emailSection(email: string): HTMLElement {
	return section(
		"Email address",
		h("p", {}, `Now: ${email}`),
		form(
			"Change email",
			[field("New email", "new_email", "email")],
			async ({ new_email = "" }, element) => {
				await ok(atrium.api.POST("/v1/me/email", { body: { new_email } }));
				element.reset();
				banner(`Check ${new_email}: the change happens when you confirm it there.`);
			},
			{ id: "change-email" },
		),
	);
}

async function passkeysSection(rerender: Rerender): Promise<HTMLElement> {
	const { passkeys } = await ok(atrium.api.GET("/v1/me/passkeys"));
	return section(
		"Passkeys",
		h(
			"ul",
			{ class: "list", id: "passkeys" },
			...passkeys.map((passkey) =>
				h(
					"li",
					{},
					h("span", {}, passkey.name),
					h(
						"small",
						{},
						passkey.last_used_at ? `last used ${new Date(passkey.last_used_at).toLocaleString()}` : "not used yet",
					),
					act(
						"Remove",
						() => ok(atrium.api.DELETE("/v1/me/passkeys/{id}", { params: { path: { id: passkey.id } } })),
						rerender,
					),
				),
			),
		),
		act("Add a passkey", () => atrium.passkeys.register(navigator.platform || "This device"), rerender),
	);
}

async function sessionsSection(rerender: Rerender): Promise<HTMLElement> {
	const { sessions } = await ok(atrium.api.GET("/v1/me/sessions"));
	return section(
		"Where you're signed in",
		h(
			"ul",
			{ class: "list", id: "sessions" },
			...sessions.map((session) =>
				h(
					"li",
					{},
					h("span", {}, `${session.user_agent ?? "Unknown device"}${session.current ? " (this device)" : ""}`),
					h("small", {}, new Date(session.last_used_at ?? session.created_at).toLocaleString()),
					!session.current &&
						act(
							"Revoke",
							() => ok(atrium.api.DELETE("/v1/me/sessions/{id}", { params: { path: { id: session.id } } })),
							rerender,
						),
				),
			),
		),
	);
}

async function accountsSection(rerender: Rerender): Promise<HTMLElement> {
	const [{ accounts }, { providers }] = await Promise.all([
		ok(atrium.api.GET("/v1/me/accounts")),
		ok(atrium.api.GET("/v1/auth/oauth")),
	]);
	const linked = new Set(accounts.map((account) => account.provider));
	return section(
		"Linked accounts",
		h(
			"ul",
			{ class: "list", id: "linked-accounts" },
			...providers.map((provider) =>
				h(
					"li",
					{},
					h("span", {}, provider.name),
					linked.has(provider.id)
						? act(
								"Unlink",
								() =>
									ok(atrium.api.DELETE("/v1/me/accounts/{provider}", { params: { path: { provider: provider.id } } })),
								rerender,
							)
						: act(
								"Link",
								async () => {
									const { authorization_url } = await ok(
										atrium.api.POST("/v1/me/accounts/{provider}", {
											params: { path: { provider: provider.id } },
											body: { redirect_uri: APP_SETTINGS },
										}),
									);
									location.assign(authorization_url);
								},
								async () => {},
							),
				),
			),
		),
	);
}

/** `/settings`: profile, avatar, password, two-step verification, sessions and linked accounts. */
export async function accountPage(root: HTMLElement): Promise<void> {
	const params = new URLSearchParams(location.search);
	if (params.get("linked")) banner(`Linked your ${params.get("linked")} account.`);
	if (params.get("error")) banner(`Linking failed (${params.get("error")}).`, "error");
	const rerender = () => accountPage(root);
	const me = await ok(atrium.api.GET("/v1/me"));
	const sections = await Promise.all([
		profileSection(rerender),
		passwordSection(me.has_password),
		twoFactorSection(me.mfa.totp, rerender),
		passkeysSection(rerender),
		Promise.resolve(emailSection(me.email)),
		sessionsSection(rerender),
		accountsSection(rerender),
	]);
	root.replaceChildren(
		h("div", { class: "columns" }, ...sections),
		h(
			"p",
			{},
			act(
				"Sign out everywhere",
				() => atrium.auth.signOut({ everywhere: true }),
				async () => location.assign("/"),
				"danger",
			),
		),
	);
}
