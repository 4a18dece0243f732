// Processes and CPU time from /proc (Linux only): which workerd runs which Worker, and the ticks
// each spent.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** pid, command name, parent and CPU ticks (user + system) of one process, or null once it is gone. */
export function procStat(pid) {
	try {
		const text = readFileSync(`/proc/${pid}/stat`, "utf8");
		const close = text.lastIndexOf(")");
		const fields = text.slice(close + 2).split(" ");
		// After "pid (comm) ": state ppid ... utime is field 14 overall, stime 15 (1-based).
		return {
			pid,
			comm: text.slice(text.indexOf("(") + 1, close),
			ppid: Number(fields[1]),
			ticks: Number(fields[11]) + Number(fields[12]),
		};
	} catch {
		return null;
	}
}

function allProcesses() {
	return readdirSync("/proc")
		.filter((name) => /^\d+$/.test(name))
		.map((name) => procStat(Number(name)))
		.filter(Boolean);
}

/** The workerd processes wrangler started in this process. */
export function workerdChildren() {
	return allProcesses().filter((p) => p.ppid === process.pid && p.comm === "workerd");
}

/** Pids of this process and all its descendants. */
function ownTree() {
	const processes = allProcesses();
	const ours = new Set([process.pid]);
	let grew = true;
	while (grew) {
		grew = false;
		for (const p of processes) {
			if (!ours.has(p.pid) && ours.has(p.ppid)) {
				ours.add(p.pid);
				grew = true;
			}
		}
	}
	return ours;
}

/** The pid listening on a local TCP port: wrangler's proxy Worker, in front of the user Worker. */
export function listenerPid(port, candidates) {
	const inodes = new Set();
	for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
		let text = "";
		try {
			text = readFileSync(table, "utf8");
		} catch {
			continue;
		}
		for (const line of text.split("\n").slice(1)) {
			const cols = line.trim().split(/\s+/);
			if (cols.length < 10) continue;
			const localPort = Number.parseInt(cols[1].split(":")[1], 16);
			if (localPort === port && cols[3] === "0A") inodes.add(cols[9]);
		}
	}
	for (const pid of candidates) {
		let fds = [];
		try {
			fds = readdirSync(`/proc/${pid}/fd`);
		} catch {
			continue;
		}
		for (const fd of fds) {
			try {
				const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
				const match = /^socket:\[(\d+)\]$/.exec(link);
				if (match && inodes.has(match[1])) return pid;
			} catch {
				// fd closed meanwhile
			}
		}
	}
	return null;
}

export function ticksOf(pid) {
	return procStat(pid)?.ticks ?? 0;
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
export function machineTicks() {
	const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
	const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
	const total = cpu.slice(0, 8).reduce((sum, value) => sum + value, 0);
	return { busy: total - idle, total };
}

/** CPU ticks of this process and everything it started (autocannon, wrangler, workerd). */
export function treeTicks() {
	let sum = 0;
	for (const pid of ownTree()) sum += ticksOf(pid);
	return sum;
}

/** Milliseconds of CPU per request, or null without requests. */
export function cpuMsOf(ticks, requests) {
	return requests ? ((ticks / clockTicks) * 1000) / requests : null;
}

export const ticksToMs = (ticks) => (ticks / clockTicks) * 1000;
