using Parley.Protocol;

namespace Parley;

/// <summary>A refusal with a protocol error code (see <see cref="ErrorCodes"/>); the request changed nothing.</summary>
public sealed class ParleyException : Exception
{
    /// <summary>Creates a refusal.</summary>
    public ParleyException(string code, string message) : base(message) => Code = code;

    /// <summary>Creates a generic refusal.</summary>
    public ParleyException() : this(ErrorCodes.Invalid, "invalid request") { }

    /// <summary>Creates a refusal with code <c>invalid</c>.</summary>
    public ParleyException(string message) : this(ErrorCodes.Invalid, message) { }

    /// <summary>Creates a refusal wrapping a cause.</summary>
    public ParleyException(string message, Exception inner) : base(message, inner) => Code = ErrorCodes.Unavailable;

    /// <summary>The protocol error code.</summary>
    public string Code { get; }

    /// <summary><c>invalid</c>.</summary>
    public static ParleyException Invalid(string message) => new(ErrorCodes.Invalid, message);

    /// <summary><c>not_found</c>.</summary>
    public static ParleyException NotFound(string message = "no such conversation") => new(ErrorCodes.NotFound, message);

    /// <summary><c>forbidden</c>.</summary>
    public static ParleyException Forbidden(string message) => new(ErrorCodes.Forbidden, message);

    /// <summary><c>unavailable</c>.</summary>
    public static ParleyException Unavailable(string message = "the store is unavailable; nothing was stored") => new(ErrorCodes.Unavailable, message);
}
