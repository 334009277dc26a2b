// Where each kind of record goes, read off the schema the store really has.
#pragma once

#include "pipeline/pipeline.h"
#include "store/schema/schema_manager.h"

namespace kobs::pipeline {

// Every table kind's insertable columns (in table order) as encoder targets.
PipelineTargets targetsFromSchema(const store::schema::Schema& schema);

}  // namespace kobs::pipeline
