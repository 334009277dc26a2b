// Step 6 of runProcess(): the receivers (collectors) that feed the pipeline,
// each built by its registered factory when the configuration enables it.
#include "app/process_parts.h"
#include "collect/collector_registry.h"

namespace kobs::app {

void Process::startReceivers() {
  if (!pipeline_) return;
  collect::CollectorContext ctx{config_.values, *pipeline_, *store_, registry_, config_.data_dir, options_.demo};
  for (const auto& factory : collect::registerCollectors()) {
    auto c = factory.create(ctx);
    if (!c) continue;
    c->start();
    log_->info("collector {} started", c->name());
    announce("collector", std::string(c->name()));
    receivers_.push_back(std::move(c));
  }
}

}  // namespace kobs::app
