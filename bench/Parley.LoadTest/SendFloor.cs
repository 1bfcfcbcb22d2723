using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Parley.LoadTest;

/// <summary>
/// The machine's floor for fan-out: what one <c>send()</c> of a small WebSocket frame costs the sending thread on this
/// machine, with nothing else around it (no server, no framing, no queues). On loopback the sender's <c>send()</c> also
/// runs the receiving side's TCP processing and wakes the reader, as it does when a server writes to a local client, so
/// the figure is the least CPU any server pays per delivery it writes with a send of its own.
/// </summary>
public static class SendFloor
{
    /// <summary>
    /// Writes a 102-byte frame (a 100-byte text payload with its 2-byte WebSocket header) round-robin to
    /// <paramref name="sockets"/> loopback connections at <paramref name="rate"/> sends/s for <paramref name="durationMs"/>,
    /// from one dedicated thread, one blocking send each; the readers run on other threads and are not counted.
    /// </summary>
    public static async Task<Dictionary<string, double>> MeasureAsync(int sockets, double rate, int durationMs)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(sockets);
        var senders = new List<Socket>(sockets);
        var readers = new List<Socket>(sockets);
        try
        {
            for (var i = 0; i < sockets; i++)
            {
                var reader = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await reader.ConnectAsync(listener.LocalEndPoint!);
                readers.Add(reader);
                var sender = await listener.AcceptAsync();
                sender.NoDelay = true;
                senders.Add(sender);
            }

            var received = 0L;
            var reading = readers.Select(r => Task.Run(async () =>
            {
                var buffer = new byte[4096];
                int n;
                while ((n = await r.ReceiveAsync(buffer, SocketFlags.None)) > 0)
                {
                    Interlocked.Add(ref received, n);
                }
            })).ToList();

            var frame = new byte[102];
            frame[0] = 0x81;
            frame[1] = 100;
            frame.AsSpan(2).Fill((byte)'x');
            double cpu = 0;
            long sent = 0;
            var thread = new Thread(() => (cpu, sent) = SendLoop(senders, frame, rate, durationMs)) { IsBackground = true, Name = "send-floor" };
            thread.Start();
            thread.Join();

            foreach (var s in senders)
            {
                s.Shutdown(SocketShutdown.Send);
            }

            await Task.WhenAll(reading).WaitAsync(TimeSpan.FromSeconds(10));
            return new Dictionary<string, double>
            {
                ["sockets"] = sockets,
                ["offeredPerSecond"] = rate,
                ["sends"] = sent,
                ["bytesReceived"] = Interlocked.Read(ref received),
                ["senderCpuSeconds"] = cpu,
                ["cpuMicrosecondsPerSend"] = sent == 0 ? double.NaN : cpu * 1e6 / sent,
                ["sendsPerCpuSecond"] = cpu <= 0 ? double.NaN : sent / cpu,
            };
        }
        finally
        {
            foreach (var s in senders.Concat(readers))
            {
                s.Dispose();
            }
        }
    }

    private static (double Cpu, long Sent) SendLoop(List<Socket> senders, byte[] frame, double rate, int durationMs)
    {
        var clock = Stopwatch.StartNew();
        var cpuAtStart = ThreadCpuSeconds();
        long sent = 0;
        var next = 0;
        while (clock.ElapsedMilliseconds < durationMs)
        {
            // Open loop: whatever is due by now leaves now, then the thread sleeps until the next millisecond.
            var due = (long)(clock.Elapsed.TotalSeconds * rate);
            for (; sent < due; sent++)
            {
                senders[next].Send(frame);
                next = (next + 1) % senders.Count;
            }

            Thread.Sleep(1);
        }

        return (ThreadCpuSeconds() - cpuAtStart, sent);
    }

    /// <summary>The calling thread's CPU time (user + system), to the microsecond (<c>getrusage(RUSAGE_THREAD)</c>).</summary>
    private static double ThreadCpuSeconds()
    {
        if (GetRUsage(RusageThread, out var usage) != 0)
        {
            throw new InvalidOperationException("getrusage(RUSAGE_THREAD) failed");
        }

        return usage.UserSeconds + (usage.UserMicroseconds / 1e6) + usage.SystemSeconds + (usage.SystemMicroseconds / 1e6);
    }

    private const int RusageThread = 1;

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    /// <summary>Linux x86-64 <c>struct rusage</c>: two timevals, then fourteen longs this code does not read.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 144)]
    private struct RUsage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
    }
}
