namespace Parley.Server.WebSockets;

/// <summary>
/// Which browser origins may open a WebSocket: requests without Origin (non-browser clients) and same-origin requests
/// always; other origins only when listed in <c>Parley:AllowedOrigins</c> ("*" allows any).
/// </summary>
public sealed class OriginPolicy
{
    private readonly HashSet<string> _allowed;
    private readonly bool _any;

    /// <summary>Creates the policy from the configured list.</summary>
    public OriginPolicy(IEnumerable<string> allowed)
    {
        _allowed = new HashSet<string>(allowed.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
        _any = _allowed.Contains("*");
    }

    /// <summary>True when the request's origin may connect.</summary>
    public bool Allows(HttpRequest request) => Allows(request.Headers.Origin.ToString(), request.Host);

    /// <summary>True when a request from <paramref name="origin"/> (null: none sent) to <paramref name="host"/> may connect.</summary>
    public bool Allows(string? origin, string host) => Allows(origin, HostString.FromUriComponent(host));

    private bool Allows(string? origin, HostString host)
    {
        if (string.IsNullOrEmpty(origin) || _any || _allowed.Contains(origin.TrimEnd('/')))
        {
            return true;
        }

        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri))
        {
            return false;
        }

        // Same origin: the page was served by this host (directly or through a proxy that keeps Host).
        return string.Equals(uri.Authority, host.Value, StringComparison.OrdinalIgnoreCase)
            || (uri.IsDefaultPort && string.Equals(uri.Host, host.Host, StringComparison.OrdinalIgnoreCase) && host.Port is null);
    }
}
