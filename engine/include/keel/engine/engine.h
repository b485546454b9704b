// keel/engine/engine.h: the whole public engine API in one include.
#pragma once

#include "keel/engine/actor.h"
#include "keel/engine/actor_ref.h"
#include "keel/engine/dead_letters.h"
#include "keel/engine/diagnostics.h"
#include "keel/engine/future.h"
#include "keel/engine/options.h"
#include "keel/engine/pool.h"
#include "keel/engine/supervision.h"
#include "keel/engine/system.h"
