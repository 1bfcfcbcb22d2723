using System.Reflection;
using System.Runtime.ExceptionServices;

namespace Parley.Testing;

/// <summary>
/// A real <see cref="IChatStore"/> seen through a proxy: every call goes to the wrapped store unless
/// <see cref="Intercept"/> answers it first (to count calls, or to fail some). Not a stand-in: the store does the work.
/// </summary>
public class StoreInterceptor : DispatchProxy
{
    private IChatStore _inner = null!;

    /// <summary>Wraps <paramref name="inner"/>; returns the store to use and the interceptor to inspect.</summary>
    public static (IChatStore Store, TInterceptor Interceptor) Wrap<TInterceptor>(IChatStore inner)
        where TInterceptor : StoreInterceptor
    {
        var proxy = Create<IChatStore, TInterceptor>();
        var interceptor = (TInterceptor)(object)proxy;
        interceptor._inner = inner;
        return (proxy, interceptor);
    }

    /// <summary>The wrapped store, for an <see cref="Intercept"/> that calls it itself.</summary>
    protected IChatStore Inner => _inner;

    /// <summary>Sees each call first; a non-null result is returned instead of calling the store.</summary>
    protected virtual object? Intercept(MethodInfo method, object?[]? args) => null;

    /// <inheritdoc />
    protected sealed override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (Intercept(targetMethod, args) is { } answer)
        {
            return answer;
        }

        try
        {
            return targetMethod.Invoke(_inner, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
    }
}

/// <summary>The real store, counting the calls of one of its methods (e.g. the reads a catch-up or a disconnect makes).</summary>
public class CallCounter : StoreInterceptor
{
    private int _count;

    /// <summary>The name of the <see cref="IChatStore"/> method counted.</summary>
    public string Method { get; set; } = "";

    /// <summary>Calls counted since the start or the last <see cref="Reset"/>.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Starts counting from zero.</summary>
    public void Reset() => Interlocked.Exchange(ref _count, 0);

    /// <inheritdoc />
    protected override object? Intercept(MethodInfo method, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.Name == Method)
        {
            Interlocked.Increment(ref _count);
        }

        return null;
    }
}

/// <summary>
/// The real store, whose next appends commit and then fail instead of answering: a database connection lost between
/// the commit and its reply. The messages are stored; the caller is told the store failed.
/// </summary>
public class AppendAnswerLoss : StoreInterceptor
{
    private int _toLose;

    /// <summary>Loses the answers of the next <paramref name="appends"/> append calls.</summary>
    public void Lose(int appends) => Interlocked.Exchange(ref _toLose, appends);

    /// <inheritdoc />
    protected override object? Intercept(MethodInfo method, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(method);
        var left = Volatile.Read(ref _toLose);
        if (method.Name != nameof(IChatStore.AppendBatchAsync) || left <= 0 || Interlocked.CompareExchange(ref _toLose, left - 1, left) != left)
        {
            return null;
        }

        return CommitThenFailAsync((Task<IReadOnlyList<AppendResult>>)method.Invoke(Inner, args)!);
    }

    private static async Task<IReadOnlyList<AppendResult>> CommitThenFailAsync(Task<IReadOnlyList<AppendResult>> commit)
    {
        await commit;
        throw new StoreUnavailableException("the connection dropped after the commit, before its answer");
    }
}
