import { defineConfig } from "vite";

// ATRIUM_URL: where the API runs (`npm run dev` serves it on 8787). Read at build time.
export default defineConfig({
	define: { __ATRIUM_URL__: JSON.stringify(process.env.ATRIUM_URL ?? "http://localhost:8787") },
	server: { port: Number(process.env.PORT ?? 5173), strictPort: true },
	build: { target: "es2022" },
});
