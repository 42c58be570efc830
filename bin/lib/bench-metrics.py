"""Reads what bin/cluster-bench collected for one command and prints its line of results.tsv.

Usage: python3 bench-metrics.py OUT COMMAND WHERE START END RC

Sources: OUT/COMMAND.log (GNU time's CPU seconds and maximum resident set size of the driver, the run summary's
peak-heap note and reconciliation line), OUT/COMMAND.rss ("pid VmHWM-kB" lines, read from /proc
every second for each executor JVM), and Spark's event log in OUT/events/COMMAND/ (every task's
executor CPU time, shuffle and spill bytes, every stage's peak executor metrics). Also writes OUT/COMMAND.stages.tsv:
one line per completed stage with its tasks, duration, shuffle bytes written and read (as Spark
counts them: serialized and compressed), bytes spilled to disk, and the Beam steps it ran (the
names of its RDDs, which Beam's SparkRunner names after the transforms).
"""
import glob
import json
import re
import sys

out, cmd, where, start, end, rc = sys.argv[1:]
log = open(f"{out}/{cmd}.log", encoding="utf-8", errors="replace").read()
m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
driver_rss = str(int(m.group(1)) // 1024) if m else "-"
m = re.search(r"User time \(seconds\): ([\d.]+)\s+System time \(seconds\): ([\d.]+)", log)
driver_cpu = f"{float(m.group(1)) + float(m.group(2)):.0f}" if m else "-"
m = re.search(r"peak heap at most ([\d,]+) MiB", log)
driver_heap = m.group(1).replace(",", "") if m else "-"

rss = {}
for line in open(f"{out}/{cmd}.rss"):
    pid, kb = line.split()
    rss[pid] = max(rss.get(pid, 0), int(kb))
exec_rss = "/".join(str(v // 1024) for v in sorted(rss.values(), reverse=True)) or "-"

written = read = spilled = tasks = cpu_ns = 0
heap = {}
stages = []
skip = ("MapPartitions", "Shuffled", "Parallel", "Union", "Coalesced", "Checkpoint")
for f in sorted(glob.glob(f"{out}/events/{cmd}/*")):
    for line in open(f, encoding="utf-8"):
        try:
            ev = json.loads(line)
        except ValueError:
            continue  # the last line of the log of a JVM that died mid-write
        kind = ev.get("Event")
        if kind == "SparkListenerTaskEnd":
            tasks += 1
            tm = ev.get("Task Metrics") or {}
            sr = tm.get("Shuffle Read Metrics") or {}
            read += sr.get("Remote Bytes Read", 0) + sr.get("Local Bytes Read", 0)
            written += (tm.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
            spilled += tm.get("Disk Bytes Spilled", 0)
            cpu_ns += tm.get("Executor CPU Time", 0)
        elif kind == "SparkListenerStageExecutorMetrics" and ev.get("Executor ID") != "driver":
            x = ev["Executor ID"]
            heap[x] = max(heap.get(x, 0), (ev.get("Executor Metrics") or {}).get("JVMHeapMemory", 0))
        elif kind == "SparkListenerStageCompleted":
            si = ev["Stage Info"]
            acc = {a["Name"]: a.get("Value") for a in si.get("Accumulables", [])}
            val = lambda k: int(acc.get(k) or 0)
            steps = sorted({re.sub(r"/(ParMultiDo|ParDo|Map|MapElements)\b.*|\.out\d*$|\.output$", "", r["Name"])
                            for r in si.get("RDD Info", []) if not r["Name"].startswith(skip)})
            stages.append([si["Stage ID"], si["Number of Tasks"],
                           (si.get("Completion Time", 0) - si.get("Submission Time", 0)) / 1000,
                           val("internal.metrics.shuffle.write.bytesWritten"),
                           val("internal.metrics.shuffle.read.remoteBytesRead")
                           + val("internal.metrics.shuffle.read.localBytesRead"),
                           val("internal.metrics.diskBytesSpilled"), " ".join(steps)])
with open(f"{out}/{cmd}.stages.tsv", "w", encoding="utf-8") as w:
    w.write("stage\ttasks\tseconds\tshuffle_write_bytes\tshuffle_read_bytes\tspill_disk_bytes\tsteps\n")
    for s in stages:
        w.write("\t".join(str(v) for v in s) + "\n")
exec_heap = "/".join(str(v >> 20) for v in sorted(heap.values(), reverse=True)) or "-"

m = re.search(r"^\s*read ([\d,]+) = kept ([\d,]+) \+ filtered ([\d,]+) \+ rejected ([\d,]+)", log, re.M)
result = f"read {m.group(1)} kept {m.group(2)} filtered {m.group(3)} rejected {m.group(4)}" if m else "?"
if rc != "0":
    result += f" EXIT {rc}"
mib = lambda b: f"{b / 2**20:.0f}"
print("\t".join([where, cmd, f"{float(end) - float(start):.1f}", driver_cpu, driver_rss, driver_heap, str(len(rss)),
                 exec_rss, exec_heap, f"{cpu_ns / 1e9:.0f}", mib(written), mib(read), mib(spilled), str(tasks), result]))
