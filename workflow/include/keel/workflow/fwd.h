// keel/workflow/fwd.h: forward declarations of the workflow layer's types.
#pragma once

namespace keel {

template <class T>
class Task;
template <class T>
class OpAwaitable;
template <class Out>
class RunHandle;
class WorkflowContext;
class WorkflowEngine;
class WorkflowTestEnv;
class Workflows;
struct RetryPolicy;
struct RunInfo;
struct StepOptions;
struct WorkflowEngineOptions;

}  // namespace keel
