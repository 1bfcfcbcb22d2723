namespace Parley.Client;

/// <summary>The server refused a request with a protocol error code (see protocol v1).</summary>
public sealed class ParleyClientException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ParleyClientException(string code, string message) : base($"{code}: {message}") => Code = code;

    /// <summary>Creates the exception.</summary>
    public ParleyClientException() : this("invalid", "request refused") { }

    /// <summary>Creates the exception.</summary>
    public ParleyClientException(string message) : this("invalid", message) { }

    /// <summary>Creates the exception.</summary>
    public ParleyClientException(string message, Exception inner) : base(message, inner) => Code = "unavailable";

    /// <summary>The protocol error code, e.g. <c>not_found</c>.</summary>
    public string Code { get; }

    /// <summary>True for codes a retry may cure (<c>unavailable</c>, <c>rate_limited</c>).</summary>
    public bool IsTransient => Code is "unavailable" or "rate_limited";
}
