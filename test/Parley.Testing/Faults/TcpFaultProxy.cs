using System.Net;
using System.Net.Sockets;

namespace Parley.Testing;

/// <summary>What a <see cref="TcpFaultProxy"/> does with traffic.</summary>
public enum ProxyMode
{
    /// <summary>Forward both ways.</summary>
    Pass,

    /// <summary>
    /// A partition: accept and keep connections but forward nothing, in either direction, and send no FIN or RST —
    /// what a peer sees when the network silently drops packets.
    /// </summary>
    Blackhole,

    /// <summary>Refuse: reset every open connection and every new one.</summary>
    Reset,
}

/// <summary>
/// A TCP proxy between a Parley node and one of its dependencies (or a client and a node), for fault injection
/// without <c>tc netem</c>: switch it between passing, blackholing (silent partition) and resetting at run time.
/// </summary>
public sealed class TcpFaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Link> _links = [];
    private readonly Task _acceptLoop;
    private volatile ProxyMode _mode = ProxyMode.Pass;

    /// <summary>Starts a proxy on a free loopback port forwarding to <paramref name="targetPort"/> on loopback.</summary>
    public TcpFaultProxy(int targetPort, int listenPort = 0)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _listener = new TcpListener(IPAddress.Loopback, listenPort);
        _listener.Start(512);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The port clients connect to.</summary>
    public int Port { get; }

    /// <summary>The current mode.</summary>
    public ProxyMode Mode => _mode;

    /// <summary>Connections currently open through the proxy.</summary>
    public int OpenLinks
    {
        get
        {
            lock (_links)
            {
                return _links.Count;
            }
        }
    }

    /// <summary>Switches the mode; <see cref="ProxyMode.Reset"/> also resets every open connection now.</summary>
    public void SetMode(ProxyMode mode)
    {
        _mode = mode;
        if (mode == ProxyMode.Reset)
        {
            List<Link> links;
            lock (_links)
            {
                links = [.. _links];
            }

            foreach (var link in links)
            {
                link.Reset();
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            if (_mode == ProxyMode.Reset)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                continue;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await upstream.ConnectAsync(_target, _stop.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            client.LingerState = new LingerOption(true, 0);
            client.Dispose();
            upstream.Dispose();
            return;
        }

        var link = new Link(client, upstream);
        lock (_links)
        {
            _links.Add(link);
        }

        try
        {
            await Task.WhenAny(PumpAsync(client, upstream), PumpAsync(upstream, client));
        }
        finally
        {
            link.Close();
            lock (_links)
            {
                _links.Remove(link);
            }
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    return;
                }

                // A blackhole holds the bytes back until the partition heals (or the link is reset), like a network
                // that drops packets which TCP retransmits later.
                while (_mode == ProxyMode.Blackhole)
                {
                    await Task.Delay(20, _stop.Token);
                }

                if (_mode == ProxyMode.Reset)
                {
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        SetMode(ProxyMode.Reset);
        _stop.Dispose();
    }

    private sealed class Link(Socket client, Socket upstream)
    {
        private int _closed;

        public void Reset()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
            {
                return;
            }

            foreach (var s in new[] { client, upstream })
            {
                try
                {
                    s.LingerState = new LingerOption(true, 0);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }

                s.Dispose();
            }
        }

        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
            {
                return;
            }

            client.Dispose();
            upstream.Dispose();
        }
    }
}
