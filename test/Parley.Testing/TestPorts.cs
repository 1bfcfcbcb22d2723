using System.Net;
using System.Net.Sockets;

namespace Parley.Testing;

/// <summary>Free loopback ports and private temporary folders for test servers.</summary>
public static class TestPorts
{
    /// <summary>A TCP port that was free on 127.0.0.1 a moment ago.</summary>
    public static int GetFree()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Creates a fresh folder under the system temp folder, named with <paramref name="prefix"/>.</summary>
    public static string NewTempDir(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"parley-{prefix}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Waits until something accepts TCP connections on 127.0.0.1:<paramref name="port"/>, or throws after <paramref name="timeout"/>.</summary>
    public static async Task WaitForPortAsync(int port, TimeSpan timeout, Func<bool>? stillAlive = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                if (stillAlive is not null && !stillAlive())
                {
                    throw new InvalidOperationException($"the server meant to listen on port {port} exited during start-up");
                }

                await Task.Delay(50);
            }
        }
    }
}
