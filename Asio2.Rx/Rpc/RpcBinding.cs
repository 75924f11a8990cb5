using System.Linq.Expressions;
using System.Reactive.Linq;
using System.Reflection;

namespace Asio2.Rx;

/// <summary>How a bound function delivers its result.</summary>
internal enum RpcResultShape : byte
{
    /// <summary>Returns at once (a value or nothing): runs on the session's scheduler, answered at once.</summary>
    Immediate,
    /// <summary>Returns a <see cref="Task"/>/<see cref="ValueTask"/> (with or without a value).</summary>
    Task,
    /// <summary>Returns an <see cref="IObservable{T}"/>: streamed to <see cref="RpcPeer.Stream{T}"/>, or its last item to a plain call.</summary>
    Observable,
}

/// <summary>What a parameter receives when it is not read from the wire.</summary>
internal enum RpcInjection : byte
{
    None,
    Peer,
    Session,
    Cancellation,
}

/// <summary>
/// One bound function, compiled once at bind time: which parameters come from the wire (and their types), which are
/// injected (the calling <see cref="RpcPeer"/> or <see cref="Session"/>, a <see cref="CancellationToken"/> that fires
/// when the caller cancels or the connection ends), and an invoker that returns the value, a task or a boxed observable.
/// </summary>
internal sealed class RpcBinding
{
    private static readonly MethodInfo s_valueTaskAsTask = typeof(ValueTask).GetMethod(nameof(ValueTask.AsTask))!;
    private static readonly MethodInfo s_box = typeof(RpcBinding).GetMethod(nameof(Box), BindingFlags.NonPublic | BindingFlags.Static)!;
    private static readonly MethodInfo s_taskResult = typeof(RpcBinding).GetMethod(nameof(TaskResult), BindingFlags.NonPublic | BindingFlags.Static)!;

    private readonly Func<object?[], object?> _invoke;

    public RpcBinding(string name, Delegate handler, RpcWire wire)
    {
        Name = name;
        var method = handler.Method;
        var parameters = method.GetParameters();
        Injections = new RpcInjection[parameters.Length];
        var wireTypes = new List<Type>();
        var positions = new List<int>();
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i].ParameterType;
            if (p.IsByRef) throw new NotSupportedException($"RPC function '{name}': parameter '{parameters[i].Name}' is passed by reference; RPC parameters are values.");
            Injections[i] = p == typeof(RpcPeer) ? RpcInjection.Peer
                : p == typeof(Session) ? RpcInjection.Session
                : p == typeof(CancellationToken) ? RpcInjection.Cancellation
                : RpcInjection.None;
            if (Injections[i] != RpcInjection.None) continue;
            Check(wire, p, name, $"parameter '{parameters[i].Name}'");
            wireTypes.Add(p);
            positions.Add(i);
        }
        WireTypes = [.. wireTypes];
        WirePositions = [.. positions];
        ParameterCount = parameters.Length;

        // One expression: (object?[] a) => (object?)handler((T0)a[0], (T1)a[1], ...), with the result normalised:
        // ValueTask -> Task, IObservable<T> -> IObservable<object?>.
        var args = Expression.Parameter(typeof(object?[]), "args");
        var call = Expression.Invoke(
            Expression.Constant(handler),
            parameters.Select((p, i) => Expression.Convert(Expression.ArrayIndex(args, Expression.Constant(i)), p.ParameterType)));
        var returnType = method.ReturnType;
        Expression body;
        if (returnType == typeof(void))
        {
            Shape = RpcResultShape.Immediate;
            body = Expression.Block(call, Expression.Constant(null, typeof(object)));
        }
        else if (returnType == typeof(Task) || returnType == typeof(ValueTask))
        {
            Shape = RpcResultShape.Task;
            body = returnType == typeof(ValueTask) ? Expression.Call(call, s_valueTaskAsTask) : call;
        }
        else if (returnType.IsGenericType && (returnType.GetGenericTypeDefinition() == typeof(Task<>) || returnType.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            Shape = RpcResultShape.Task;
            ResultType = returnType.GetGenericArguments()[0];
            body = returnType.GetGenericTypeDefinition() == typeof(ValueTask<>) ? Expression.Call(call, returnType.GetMethod("AsTask")!) : call;
            var accessor = s_taskResult.MakeGenericMethod(ResultType);
            GetTaskResult = accessor.CreateDelegate<Func<Task, object?>>();
        }
        else if (returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(IObservable<>))
        {
            Shape = RpcResultShape.Observable;
            ResultType = returnType.GetGenericArguments()[0];
            body = Expression.Call(s_box.MakeGenericMethod(ResultType), call);
        }
        else
        {
            Shape = RpcResultShape.Immediate;
            ResultType = returnType;
            body = call;
        }
        if (ResultType is not null) Check(wire, ResultType, name, "the result");
        _invoke = Expression.Lambda<Func<object?[], object?>>(Expression.Convert(body, typeof(object)), args).Compile();
    }

    public string Name { get; }

    /// <summary>Types read from the wire, in wire order.</summary>
    public Type[] WireTypes { get; }

    /// <summary>For each wire value, its parameter position.</summary>
    public int[] WirePositions { get; }

    /// <summary>What each parameter receives when it is not read from the wire.</summary>
    public RpcInjection[] Injections { get; }

    public int ParameterCount { get; }

    public RpcResultShape Shape { get; }

    /// <summary>The type of the result (of the task, of the observable's items); null when there is none.</summary>
    public Type? ResultType { get; }

    /// <summary>For <c>Task&lt;T&gt;</c>: reads the result of a completed task.</summary>
    public Func<Task, object?>? GetTaskResult { get; }

    public bool UsesCancellation => Array.IndexOf(Injections, RpcInjection.Cancellation) >= 0;

    /// <summary>Calls the function. Returns its value, a <see cref="Task"/>, or an <c>IObservable&lt;object?&gt;</c>.</summary>
    public object? Invoke(object?[] args) => _invoke(args);

    private static void Check(RpcWire wire, Type type, string name, string what)
    {
        try
        {
            wire.CheckType(type);
        }
        catch (NotSupportedException ex)
        {
            throw new NotSupportedException($"RPC function '{name}': {what} cannot be sent: {ex.Message}", ex);
        }
    }

    private static IObservable<object?> Box<T>(IObservable<T> source) => source.Select(static x => (object?)x);

    private static object? TaskResult<T>(Task task) => ((Task<T>)task).Result;
}
