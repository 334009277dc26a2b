{{- define "kobs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kobs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains (include "kobs.name" .) .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "kobs.name" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Name of one role's objects: <fullname>-<role>. */}}
{{- define "kobs.roleName" -}}
{{- printf "%s-%s" (include "kobs.fullname" .root) .role -}}
{{- end -}}

{{- define "kobs.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kobs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kobs
{{- end -}}

{{/* Selector labels of one role ({root, role}). */}}
{{- define "kobs.selector" -}}
app.kubernetes.io/name: {{ include "kobs.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "kobs.roleLabels" -}}
{{ include "kobs.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "kobs.image" -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if eq .role "all" -}}
{{- $tag = printf "%s%s" $tag .root.Values.image.embeddedSuffix -}}
{{- end -}}
{{- printf "%s:%s" .root.Values.image.repository $tag -}}
{{- end -}}

{{/* The roles this release runs, in the mode's order. */}}
{{- define "kobs.roles" -}}
{{- if eq .Values.mode "allInOne" -}}
all
{{- else -}}
{{- if .Values.agent.enabled }}agent {{ end -}}collector serve{{ if .Values.alerts.enabled }} alert{{ end -}}
{{- end -}}
{{- end -}}

{{/* Does this release use a ClickHouse server? */}}
{{- define "kobs.usesServer" -}}
{{- if or (eq .Values.mode "split") .Values.clickhouse.url .Values.clickhouse.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "kobs.clickhouseSecret" -}}
{{- default (printf "%s-clickhouse" (include "kobs.fullname" .)) .Values.clickhouse.existingSecret -}}
{{- end -}}

{{/*
The configuration one role runs with, as a map: the chart's keys for the role, then .Values.config,
then the role's own config (later wins).
*/}}
{{- define "kobs.roleConfig" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $base := dict "data_dir" "/var/lib/kobs" "http" (dict "listen" (printf ":%v" $v.ports.http)) -}}
{{- $roleValues := dict -}}
{{- if eq .role "all" -}}
  {{- $_ := set $base "serve" (dict "clickhouse_listen" (printf ":%v" $v.ports.clickhouse)) -}}
  {{- $_ := set $base "otlp" (dict "http_listen" (printf ":%v" $v.ports.otlpHttp) "grpc_listen" (printf ":%v" $v.ports.otlpGrpc)) -}}
  {{- $_ := set $base "presenter" (dict "listen" (ternary (printf ":%v" $v.ports.presenter) "" $v.presenter.enabled)) -}}
  {{- if include "kobs.usesServer" $root -}}
    {{- $_ := set $base "store" (dict "kind" "clickhouse") -}}
    {{- $_ := set $base.serve "clickhouse_listen" "" -}}
  {{- else -}}
    {{- $_ := set $base "store" (dict "kind" "embedded") -}}
  {{- end -}}
  {{- $_ := set $base "host_metrics" (dict "enabled" false) -}}
  {{- $roleValues = $v.allInOne.config -}}
{{- else if eq .role "agent" -}}
  {{- $_ := set $base "store" (dict "kind" "clickhouse") -}}
  {{- $_ := set $base "k8s" (dict "events" (dict "enabled" false)) -}}
  {{- $_ := set $base "pod_logs" (dict "enabled" true "include" (list (printf "%s/*/*/*.log" $v.agent.podLogsPath))) -}}
  {{- $_ := set $base "host_metrics" (dict "enabled" $v.agent.hostMetrics.enabled) -}}
  {{- if $v.agent.hostMetrics.enabled -}}
    {{- $_ := set $base.host_metrics "root" $v.agent.hostMetrics.hostRoot -}}
  {{- end -}}
  {{- $_ := set $base "kubelet_stats" (dict "enabled" $v.agent.kubeletStats.enabled) -}}
  {{- $_ := set $base "otlp" (dict "http_listen" "" "grpc_listen" "") -}}
  {{- $_ := set $base "serve" (dict "clickhouse_listen" "") -}}
  {{- $roleValues = $v.agent.config -}}
{{- else if eq .role "collector" -}}
  {{- $_ := set $base "store" (dict "kind" "clickhouse") -}}
  {{- $le := dict "enabled" true "lease_name" (printf "%s-k8s-events" (include "kobs.fullname" $root)) -}}
  {{- $_ := set $base "k8s" (dict "events" (dict "enabled" true "leader_election" $le)) -}}
  {{- $_ := set $base "pod_logs" (dict "enabled" false) -}}
  {{- $_ := set $base "otlp" (dict "http_listen" (printf ":%v" $v.ports.otlpHttp) "grpc_listen" (printf ":%v" $v.ports.otlpGrpc)) -}}
  {{- $_ := set $base "serve" (dict "clickhouse_listen" "") -}}
  {{- $_ := set $base "host_metrics" (dict "enabled" false) -}}
  {{- $roleValues = $v.collector.config -}}
{{- else if eq .role "serve" -}}
  {{- $_ := set $base "store" (dict "kind" "clickhouse") -}}
  {{- $_ := set $base "serve" (dict "clickhouse_listen" "") -}}
  {{- $_ := set $base "presenter" (dict "listen" (ternary (printf ":%v" $v.ports.presenter) "" $v.presenter.enabled)) -}}
  {{- $roleValues = $v.serve.config -}}
{{- else if eq .role "alert" -}}
  {{- $_ := set $base "store" (dict "kind" "clickhouse") -}}
  {{- $roleValues = $v.alert.config -}}
{{- end -}}
{{- if and $v.alerts.enabled $v.alerts.rulesDirKey (has .role (list "all" "alert")) -}}
  {{- $_ := set $base $v.alerts.rulesDirKey $v.alerts.mountPath -}}
{{- end -}}
{{- include "kobs.deepSet" (dict "dst" $base "src" (deepCopy $v.config)) -}}
{{- include "kobs.deepSet" (dict "dst" $base "src" (deepCopy $roleValues)) -}}
{{- toYaml $base -}}
{{- end -}}

{{/*
Merges map .src into map .dst in place, recursively; a value of .src wins, false and "" included
(sprig's mergeOverwrite keeps the destination's value over an empty one, which would make
`pod_logs: {enabled: false}` or `otlp: {http_listen: ""}` impossible to set).
*/}}
{{- define "kobs.deepSet" -}}
{{- $dst := .dst -}}
{{- range $k, $val := .src -}}
{{- if and (kindIs "map" $val) (hasKey $dst $k) (kindIs "map" (index $dst $k)) -}}
{{- include "kobs.deepSet" (dict "dst" (index $dst $k) "src" $val) -}}
{{- else -}}
{{- $_ := set $dst $k $val -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
One configuration value of a role, by dotted key, as a string ("" when unset): reads the nested map
kobs.roleConfig renders, and a dotted key written flat.
*/}}
{{- define "kobs.roleConfigValue" -}}
{{- $cfg := include "kobs.roleConfig" (dict "root" .root "role" .role) | fromYaml -}}
{{- if hasKey $cfg .key -}}
{{- index $cfg .key -}}
{{- else -}}
{{- $cur := $cfg -}}
{{- $found := true -}}
{{- range splitList "." .key -}}
{{- if and $found (kindIs "map" $cur) (hasKey $cur .) -}}
{{- $cur = index $cur . -}}
{{- else -}}
{{- $found = false -}}
{{- end -}}
{{- end -}}
{{- if $found -}}{{- $cur -}}{{- end -}}
{{- end -}}
{{- end -}}

{{/* Environment every role gets: the downward API, and the ClickHouse Secret when a server is used. */}}
{{- define "kobs.env" -}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: NODE_NAME
  valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
{{- if and (eq .role "agent") .root.Values.agent.kubeletStats.enabled .root.Values.agent.kubeletStats.endpointFromHostIP }}
- name: NODE_IP
  valueFrom: {fieldRef: {fieldPath: status.hostIP}}
# Node names do not always resolve from pods; the node's IP does (this overrides kubelet_stats.endpoint).
- name: KOBS_KUBELET_ENDPOINT
  value: "https://$(NODE_IP):10250"
{{- end }}
{{- if include "kobs.usesServer" .root }}
- name: CLICKHOUSE_URL
  valueFrom: {secretKeyRef: {name: {{ include "kobs.clickhouseSecret" .root }}, key: url}}
- name: CLICKHOUSE_USER
  valueFrom: {secretKeyRef: {name: {{ include "kobs.clickhouseSecret" .root }}, key: user}}
- name: CLICKHOUSE_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "kobs.clickhouseSecret" .root }}, key: password}}
{{- end }}
{{- if and (has .role (list "all" "serve")) .root.Values.mcp.enabled .root.Values.mcp.authTokenSecret.name }}
- name: CLICKHOUSE_MCP_AUTH_TOKEN
  valueFrom: {secretKeyRef: {name: {{ .root.Values.mcp.authTokenSecret.name }}, key: {{ .root.Values.mcp.authTokenSecret.key }}}}
{{- end }}
{{- with .root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kobs.probes" -}}
{{- $p := .root.Values.probes -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{/* Container ports of a role. */}}
{{- define "kobs.containerPorts" -}}
{{- $v := .root.Values -}}
- {name: http, containerPort: {{ $v.ports.http }}, protocol: TCP}
{{- if and (has .role (list "all" "serve")) $v.presenter.enabled }}
- {name: presenter, containerPort: {{ $v.ports.presenter }}, protocol: TCP}
{{- end }}
{{- if and (eq .role "all") (not (include "kobs.usesServer" .root)) }}
- {name: clickhouse, containerPort: {{ $v.ports.clickhouse }}, protocol: TCP}
{{- end }}
{{- if has .role (list "all" "collector") }}
- {name: otlp-http, containerPort: {{ $v.ports.otlpHttp }}, protocol: TCP}
- {name: otlp-grpc, containerPort: {{ $v.ports.otlpGrpc }}, protocol: TCP}
{{- end }}
{{- if and (has .role (list "all" "serve")) $v.mcp.enabled }}
- {name: mcp, containerPort: {{ $v.ports.mcp }}, protocol: TCP}
{{- end }}
{{- end -}}

{{/* The kobs container of a role ({root, role, command}). */}}
{{- define "kobs.container" -}}
- name: kobs
  image: {{ include "kobs.image" . }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: [{{ .command | quote }}, "--config", "/etc/kobs/config/{{ .role }}.yaml"]
  env:
    {{- include "kobs.env" . | nindent 4 }}
  ports:
    {{- include "kobs.containerPorts" . | nindent 4 }}
  {{- include "kobs.probes" . | nindent 2 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
  volumeMounts:
    - {name: config, mountPath: /etc/kobs/config, readOnly: true}
    - {name: data, mountPath: /var/lib/kobs}
    - {name: tmp, mountPath: /tmp}
    {{- if eq .role "agent" }}
    - {name: pod-logs, mountPath: {{ .root.Values.agent.podLogsPath }}, readOnly: true}
    {{- if .root.Values.agent.hostMetrics.enabled }}
    - {name: host-root, mountPath: {{ .root.Values.agent.hostMetrics.hostRoot }}, readOnly: true, mountPropagation: HostToContainer}
    {{- end }}
    {{- end }}
    {{- if and .root.Values.alerts.enabled (has .role (list "all" "alert")) }}
    - {name: alert-rules, mountPath: {{ .root.Values.alerts.mountPath }}, readOnly: true}
    {{- end }}
    {{- with .root.Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* Volumes every role shares (config, tmp, alert rules). */}}
{{- define "kobs.commonVolumes" -}}
- name: config
  configMap: {name: {{ include "kobs.fullname" .root }}-config}
- name: tmp
  emptyDir: {sizeLimit: 256Mi}
{{- if and .root.Values.alerts.enabled (has .role (list "all" "alert")) }}
- name: alert-rules
  configMap: {name: {{ include "kobs.fullname" .root }}-alert-rules}
{{- end }}
{{- with .root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kobs.podCommon" -}}
serviceAccountName: {{ include "kobs.roleName" . }}
{{- $grants := (include "kobs.grants" . | fromYaml).grants }}
{{- /* A role that makes no Kubernetes API call (serve without presenter authorization) gets no token. */}}
automountServiceAccountToken: {{ and .root.Values.serviceAccount.automountToken (gt (len $grants) 0) }}
terminationGracePeriodSeconds: {{ .root.Values.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml (.values.podSecurityContext | default .root.Values.podSecurityContext) | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod annotations: the config checksum rolls the pods when the configuration changes. */}}
{{- define "kobs.podAnnotations" -}}
checksum/config: {{ include "kobs.roleConfig" (dict "root" .root "role" .role) | sha256sum }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
