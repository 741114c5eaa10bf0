"""A small message catalogue: one template serves Chinese and English.

Templates call ``t("key")`` (or ``t("key", n=3)`` with ``str.format`` fields). A key missing
from the catalogue is a programming error and raises ``KeyError`` so it is caught by tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LANGS = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "runbook_title": ("第 {n} 批迁移操作手册", "Wave {n} runbook"),
    "report_title": ("迁移进展报告", "Migration progress report"),
    "estate": ("资产清单", "Estate"),
    "generated": ("生成时间", "Generated"),
    "before": ("迁移前：计划与准备", "Before the wave: plan and preparation"),
    "after": ("迁移后：执行结果", "After the wave: what happened"),
    "not_run": ("本批次尚未执行（日志中没有记录）。",
                "This wave has not run yet (no runs in the journal)."),
    "window": ("维护窗口", "Window"),
    "start": ("开始", "Start"),
    "pilot": ("试点批次", "pilot wave"),
    "bureau": ("单位", "Bureau"),
    "bureaus": ("涉及单位", "Bureaus"),
    "date": ("日期", "Date"),
    "time": ("时间", "Time"),
    "hours": ("时长(小时)", "Hours"),
    "capacity_gb": ("窗口可传输(GB)", "Window capacity (GB)"),
    "data_gb": ("数据量(GB)", "Data (GB)"),
    "link_mbps": ("专线带宽(Mbps)", "Link (Mbps)"),
    "systems": ("业务系统", "Systems"),
    "system": ("系统", "System"),
    "owner": ("负责人", "Owner"),
    "phone": ("联系电话", "Contact"),
    "criticality": ("重要程度", "Criticality"),
    "move_group": ("迁移组", "Move group"),
    "dr_partner": ("灾备对端", "DR partner"),
    "dr_primary_is": ("{name} 的灾备系统（主系统{where}）", "DR standby of {name} ({where})"),
    "dr_standby_is": ("灾备系统 {name}（{where}）", "its DR standby {name} ({where})"),
    "dr_in_wave": ("在第 {n} 波次", "in wave {n}"),
    "hosts": ("主机", "Hosts"),
    "readiness": ("就绪评估", "Readiness"),
    "checklist": ("Go/No-Go 检查单", "Go/no-go checklist"),
    "check": ("检查项", "Check"),
    "result": ("结果", "Result"),
    "ok": ("通过", "OK"),
    "attention": ("需关注", "Attention"),
    "confirm": ("□ 待确认", "□ to confirm"),
    "steps": ("步骤", "Steps"),
    "step": ("步骤", "Step"),
    "kind": ("类型", "Kind"),
    "estimate": ("预计时长", "Estimated"),
    "total_estimate": ("预计合计", "Estimated total"),
    "rollback": ("回退方案", "Rollback procedure"),
    "dependencies": ("依赖关系", "Dependencies"),
    "depends_on": ("依赖", "depends on"),
    "used_by": ("被依赖", "used by"),
    "other_wave": ("所在批次", "wave"),
    "not_moving": ("不迁移", "does not move"),
    "this_wave": ("本批次", "this wave"),
    "warnings": ("就绪风险提示", "Readiness warnings"),
    "no_warnings": ("无。", "None."),
    "signoff": ("签字确认", "Sign-off"),
    "role": ("角色", "Role"),
    "name": ("姓名", "Name"),
    "signature": ("签字", "Signature"),
    "role_bureau": ("单位负责人", "Bureau lead"),
    "role_owner": ("系统负责人", "System owner"),
    "role_change": ("变更委员会", "Change board"),
    "role_engineer": ("实施工程师", "Field engineer"),
    "role_security": ("安全管理员", "Security officer"),
    "runs": ("执行记录", "Runs"),
    "run": ("运行", "Run"),
    "command": ("命令", "Command"),
    "resumed": ("续跑 {n} 次", "resumed ×{n}"),
    "failback_steps": ("+ 回切步骤 {n} 个", "+ {what}"),
    "unplanned_steps": ("+ 已不在计划中的步骤 {n} 个", "+ {what} no longer in the plan"),
    "status": ("状态", "Status"),
    "operator": ("操作员", "Operator"),
    "started": ("开始时间", "Started"),
    "ended": ("结束时间", "Ended"),
    "duration": ("耗时", "Duration"),
    "reason": ("原因", "Reason"),
    "attempt": ("次数", "Attempt"),
    "verification": ("校验结果", "Verification"),
    "failures": ("失败与回退", "Failures and rollbacks"),
    "no_failures": ("无失败。", "No failures."),
    "earlier_failure": ("第 {attempt} 次执行失败（已回退，之后重做成功）",
                        "failed on attempt {attempt} (rolled back, done again since)"),
    "error": ("错误", "Error"),
    "final_state": ("最终状态", "Final state"),
    "charts": ("图表", "Charts"),
    "gantt": ("批次计划甘特图", "Wave schedule (Gantt)"),
    "graph": ("依赖关系图", "Dependency graph"),
    "progress": ("各单位进度", "Progress per bureau"),
    "summary": ("概况", "Summary"),
    "moved": ("已迁移", "Moved"),
    "pending": ("待迁移", "Pending"),
    "excluded": ("不迁移", "Excluded"),
    "failed": ("失败/回退", "Failed / rolled back"),
    "total": ("合计", "Total"),
    "wave": ("批次", "Wave"),
    "waves": ("迁移批次", "Waves"),
    "by_bureau": ("按单位", "By bureau"),
    "by_wave": ("按批次", "By wave"),
    "before_after": ("迁移前后对比（评估）", "Before and after (assessment)"),
    "measure": ("指标", "Measure"),
    "before_col": ("迁移前", "Before"),
    "after_col": ("迁移后", "After"),
    "cpu_util": ("CPU 利用率", "CPU utilisation"),
    "servers": ("物理服务器", "Physical servers"),
    "vcpu": ("vCPU", "vCPU"),
    "memory_gb": ("内存(GB)", "Memory (GB)"),
    "monthly_cost": ("月成本", "Monthly cost"),
    "saving": ("节省", "Saving"),
    "no_assessment": ("尚未评估（运行 shangyun assess）。",
                      "Not assessed yet (run shangyun assess)."),
    "no_plan": ("尚无迁移计划（运行 shangyun plan）。", "No plan yet (run shangyun plan)."),
    "excluded_list": ("不迁移的系统", "Systems that do not move"),
    "state_done": ("完成", "done"),
    "state_rolled_back": ("已回退", "rolled back"),
    "state_rolled_back_by_operator": ("已由操作员回退（非故障）",
                                      "rolled back by the operator (not a failure)"),
    "state_partly_rolled_back": ("部分已由操作员回退", "partly rolled back by the operator"),
    "state_cut_over": ("已割接，待收尾（源端保留以备回切）",
                       "cut over — awaiting finalize (source kept for fail-back)"),
    "state_failed_back": ("已回切（生产写入已带回源端）",
                          "failed back (production writes carried back to the source)"),
    "state_refused": ("预检查拒绝（未改动）", "refused by the pre-check (untouched)"),
    "state_rollback_failed": ("回退失败", "rollback failed"),
    "state_failed": ("失败", "failed"),
    "state_partial": ("部分完成", "partial"),
    "state_partly_failed_back": ("部分已回切", "partly failed back"),
    "state_pending": ("未执行", "not run"),
    "state_running": ("执行中", "running"),
    "state_crashed": ("中断", "crashed"),
    "state_aborted": ("已中止", "aborted"),
    "state_never run": ("未执行", "never run"),
    "state_excluded": ("不迁移", "excluded"),
    "state_started": ("已开始", "started"),
    "state_undone": ("已撤销", "undone"),
    "state_undoing": ("撤销中", "undoing"),
    "state_undo_failed": ("撤销失败", "undo failed"),
    # go/no-go checks
    "chk_fingerprint_changed": ("需关注：资产清单在制定计划后已变更，预检查将阻止所有系统；"
                                "请重新制定计划（`shangyun plan --estate {estate}`）",
                                "Attention: the estate changed since the plan was made, so "
                                "the pre-check will stop every system; re-plan "
                                "(`shangyun plan --estate {estate}`)"),
    "chk_fingerprint": ("计划与资产清单一致（指纹相同）",
                        "The plan matches the estate (fingerprint)"),
    "chk_paths": ("每台主机的磁盘都已登记，且每块磁盘都有镜像路径",
                  "Every host's disks are known, each with an image path"),
    "chk_ready": ("没有“不可迁移”的系统", "No system is 'not ready'"),
    "chk_window": ("每个单位的数据量和预计用时都在维护窗口之内",
                   "Each bureau's data and estimated time fit its window"),
    "window_data": ("数据量超过窗口可传输量", "more data than the window can move"),
    "window_time": ("预计用时超过窗口时长", "estimated time longer than the window"),
    "unknown": ("未知", "unknown"),
    "unknown_fill": ("未知 — 请填写 {what}", "unknown — fill in {what}"),
    "warn_unknown": ("单位 {bureau} 的维护窗口无法核算：请填写 {what}。",
                     "Bureau {bureau}: the window cannot be checked; fill in {what}."),
    "go": ("可以实施（GO）", "GO"),
    "no_go": ("暂不实施（NO-GO）", "NO-GO"),
    "verdict": ("结论", "Verdict"),
    "verdict_closed": ("已收尾 — 第 {n} 批已完成收尾：本手册记录实际经过，不再是放行结论；"
                       "下方的放行检查清单是执行前所作的检查",
                       "closed — wave {n} is finalized: this runbook records what happened, "
                       "not a go/no-go; the go/no-go checklist below is what was checked "
                       "before its runs"),
    "verdict_ran": ("{state} — 本手册记录日志中的实际经过：本批次已无待执行的系统，不再是放行结论；"
                    "下方的放行检查清单是执行前的检查",
                    "{state} — this runbook records what the journal holds: nothing of the "
                    "wave is left to run, so there is no go/no-go; the checklist below is "
                    "the pre-run one"),
    "verdict_rest": ("{state} — 尚有 {n} 个系统待执行，其放行结论：{go}",
                     "{state} — {what} left to run, whose go/no-go is: {go}"),
    "chk_backup": ("源系统已完成备份并验证可恢复", "Source systems backed up and restore tested"),
    "chk_notice": ("已通知用户停机时间", "Users notified of the downtime"),
    "chk_contacts": ("系统负责人在窗口内可联系", "System owners reachable during the window"),
    "chk_target": ("目标云资源与安全区域已就绪", "Target cloud capacity and zones ready"),
    # step kinds and their undo
    "kind_precheck": ("预检查", "pre-check"),
    "kind_convert": ("镜像转换", "convert"),
    "kind_adapt": ("虚拟机系统适配", "adapt the guest"),
    "kind_upload": ("上传至对象存储", "upload"),
    "kind_import": ("导入目标云", "import"),
    "kind_launch": ("测试启动", "test launch"),
    "undo_precheck": ("无需回退", "nothing to undo"),
    "undo_convert": ("删除暂存的转换镜像 {path}", "delete the staged image {path}"),
    "undo_adapt": ("删除适配后的镜像副本 {path}（转换镜像保持不变）",
                   "delete the adapted copy {path} (the converted image is kept as it was)"),
    "guest_edits": ("虚拟机内部修改（文件及修改前后的 SHA-256）",
                    "Edits inside the guest (file, SHA-256 before and after)"),
    "guest_file": ("文件", "file"),
    "guest_why": ("原因", "why"),
    "guest_before": ("修改前", "before"),
    "guest_after": ("修改后", "after"),
    "undo_upload": ("中止分段上传并删除对象 s3://{bucket}/{key}",
                    "abort the multipart upload and delete s3://{bucket}/{key}"),
    "undo_import": ("删除目标云中的卷 {volume}", "delete the volume {volume} on the target"),
    "undo_launch": ("删除测试实例 {name}", "delete the test instance {name}"),
    "kind_copy": ("初始数据复制", "initial data copy"),
    "kind_freeze": ("冻结源系统", "freeze the source"),
    "kind_delta": ("最终增量同步", "final delta"),
    "kind_verify": ("数据校验", "verify the data"),
    "kind_start": ("启动目标生产实例", "start the target"),
    "kind_dns": ("切换 DNS", "switch DNS"),
    "kind_health": ("健康检查", "health checks"),
    "kind_cutover": ("标记已割接", "mark cut over"),
    "undo_copy": ("删除目标端的副本 {item}（从不删除源端）",
                  "drop the target copy of {item} (never the source)"),
    "undo_freeze": ("恢复源系统：重新启动虚拟机，数据库恢复可写",
                    "bring the source back: domains started again, databases writable"),
    "undo_delta": ("无需回退（初始复制的回退会删除数据）",
                   "nothing to undo (the copy's undo removes the data)"),
    "undo_verify": ("无需回退", "nothing to undo"),
    "undo_start": ("停止并删除目标生产实例", "stop and delete the production instance(s)"),
    "undo_dns": ("恢复日志中记录的原 DNS 记录（{zone}）",
                 "put the journaled previous DNS records back ({zone})"),
    "undo_health": ("无需回退", "nothing to undo"),
    "undo_cutover": ("无需回退", "nothing to undo"),
    "kind_failback-freeze": ("回切：冻结目标端", "fail-back: freeze the target"),
    "kind_failback-delta": ("回切：反向增量同步（目标→源）",
                            "fail-back: reverse delta (target → source)"),
    "kind_failback-verify": ("回切：数据校验", "fail-back: verify the data"),
    "kind_failback": ("标记已回切", "mark failed back"),
    "undo_failback-freeze": ("目标端恢复：数据库可写，生产实例重新启动",
                             "the target back: databases writable, production instances "
                             "started"),
    "undo_failback-delta": ("无需回退（源端仍冻结，下次回切再同步）",
                            "nothing to undo (the source stays frozen; the next fail-back "
                            "syncs again)"),
    "undo_failback-verify": ("无需回退", "nothing to undo"),
    "undo_failback": ("无需回退", "nothing to undo"),
    "rollback_intro": (
        "按相反顺序执行，每一步都从日志读取（进程崩溃后同样适用）：`shangyun wave rollback {n} "
        "--system {sid}`。源系统在批次完成前从不修改。",
        "Newest first, each step from the journal (works after a crash too): `shangyun wave "
        "rollback {n} --system {sid}`. The source is never modified before the wave is "
        "finalized."),
    # warnings
    "warn_fingerprint": ("资产清单在制定计划后已变更：预检查将阻止所有系统，请重新制定计划。",
                         "The estate changed since the plan was made: the pre-check will stop "
                         "every system; re-plan."),
    "warn_replanned": ("此系统已在第 {n} 波次运行，但新计划把它放到了第 {w} 波次：此处按日志显示；"
                       "第 {n} 波次仍持有它（见 `shangyun wave status {n}`）。",
                       "This system ran in wave {n}, but the plan now puts it in wave {w}: "
                       "shown here from the journal; wave {n} still holds it (see `shangyun "
                       "wave status {n}`)."),
    "warn_unplanned": ("此系统已在第 {n} 波次运行，但新计划不再包含它：此处按日志显示；"
                       "第 {n} 波次仍持有它（见 `shangyun wave status {n}`）。",
                       "This system ran in wave {n}, but the plan no longer includes it: "
                       "shown here from the journal; wave {n} still holds it (see "
                       "`shangyun wave status {n}`)."),
    "warn_no_path": ("磁盘 {disk}（主机 {host}）没有镜像路径：预检查将阻止该系统。",
                     "Disk {disk} (host {host}) has no image path: the pre-check will stop "
                     "this system."),
    "warn_no_disks": ("主机 {host} 在资产清单中没有磁盘（台账只登记了 {gb} GB 容量，按此估算"
                      "转换、上传、导入约 {est}，已计入下方估算）：本批次不会为它转换任何镜像。"
                      "请对其宿主机运行 `shangyun discover --hypervisor`，或登记其磁盘。",
                      "Host {host} has no disk in the estate (the ledger gives only its {gb} GB, "
                      "estimated at {est} to convert, upload and import, counted in the "
                      "estimates below): the wave converts nothing for it. Run "
                      "`shangyun discover --hypervisor` against its hypervisor, or add its "
                      "disks."),
    "warn_no_disks_unsized": ("主机 {host} 在资产清单中没有磁盘，也没有容量（hosts.disk_gb）："
                              "其复制时长未知，本批次不会为它转换任何镜像。请对其宿主机运行 "
                              "`shangyun discover --hypervisor`，或登记其磁盘。",
                              "Host {host} has neither disks nor a size in the estate "
                              "(hosts.disk_gb): its copy time is unknown, and the wave "
                              "converts nothing for it. Run `shangyun discover --hypervisor` "
                              "against its hypervisor, or add its disks."),
    "warn_no_link": ("单位 {bureau} 未登记专线带宽：按 {mbps} Mbps 估算。",
                     "Bureau {bureau} has no link bandwidth recorded: estimated at {mbps} "
                     "Mbps."),
    "warn_window": ("单位 {bureau} 的数据量 {data} GB 超过窗口可传输量 {cap} GB。",
                    "Bureau {bureau}: {data} GB of data exceeds the window's {cap} GB."),
    "warn_later": ("依赖的系统 {other} 在第 {wave} 批迁移（晚于本批次）。",
                   "Depends on {other}, which moves in wave {wave} (later)."),
    "warn_not_moving": ("依赖的系统 {other} 不迁移。", "Depends on {other}, which does not move."),
    "warn_estimate": ("预计时长 {est} 超过窗口 {hours} 小时。",
                      "Estimated {est} exceeds the {hours} h window."),
    "estimate_note": (
        "估算：转换与导入按本地 {disk} MB/s，上传按专线带宽 × {eff:.0%}，只计算已用数据；"
        "割接步骤按固定时长估算。",
        "Estimates: convert and import at {disk} MB/s locally, upload at link bandwidth × "
        "{eff:.0%}, allocated data only; cutover steps by fixed allowances."),
    "digest": ("摘要", "Digest"),
    "rows": ("行数", "Rows"),
    "ran_steps": ("已执行步骤", "Steps that ran"),
    # the outcome (the runbook's first screen once the wave ran)
    "outcome": ("执行结果", "Outcome"),
    "wave_state": ("批次状态", "Wave state"),
    "wave_never_run": ("尚未执行", "not run yet"),
    "wave_running": ("执行中", "running"),
    "wave_crashed": ("中断（编排进程已退出，可续跑或回退）",
                     "crashed (the orchestrator died: resume or roll back)"),
    "wave_done": ("完成：全部系统已迁移", "done: every system moved"),
    "wave_failed": ("失败：有系统未完成迁移", "failed: a system did not move"),
    "wave_partial": ("部分执行：有系统尚未执行", "partial: some systems have not run"),
    "wave_failed_back": ("已回切：未迁移的系统均由操作员回切至源端（非故障）",
                         "failed back: every system not moved was carried home on purpose "
                         "(not a failure)"),
    "wave_cut_over": ("已割接，待收尾：全部系统已在目标端生产运行，源端保留以备回切，"
                      "直到 `wave finalize`",
                      "cut over — awaiting finalize: every system runs in production on the "
                      "target; the source is kept for fail-back until `wave finalize`"),
    "wave_cut_over_mixed": ("已割接，待收尾：已在目标端生产运行：{cut}（源端保留以备回切，直到 "
                            "`wave finalize`）；仅迁移了磁盘：{disks}（`plan/cutover.yaml` 未列出，"
                            "未做任何切换，源端仍在生产）",
                            "cut over — awaiting finalize: in production on the target: {cut} "
                            "(the source kept for fail-back until `wave finalize`); moved "
                            "disks-only: {disks} (not listed in `plan/cutover.yaml`: nothing "
                            "switched, the source still in production)"),
    "wave_rolled_back": ("已回退：未迁移的系统均由操作员以 `wave rollback` 回退（非故障）",
                         "rolled back: every system not moved was rolled back by the "
                         "operator's `wave rollback` (not a failure)"),
    "wave_partly_rolled_back": ("部分已回退：其余系统已迁移，回退的系统由操作员以 "
                                "`wave rollback` 回退（非故障）",
                                "partly rolled back: the others moved, the rest were rolled "
                                "back by the operator's `wave rollback` (not a failure)"),
    "wave_partly_failed_back": ("部分已回切：其余系统已迁移，回切的系统已回到源端（非故障）",
                                "partly failed back: the others moved, the failed-back "
                                "systems are home on their sources (not a failure)"),
    "outcome_summary": ("{total} 个系统中 {moved} 个已迁移，{back} 个已回退、被拒绝或已回切，"
                        "{decide} 个需要决定，{pending} 个尚未执行。",
                        "{moved} of {total} systems moved, {back} rolled back, refused or "
                        "failed back, "
                        "{decide} needing a decision, {pending} not run yet."),
    "moved_list": ("已迁移", "Moved"),
    "moved_cut_over": ("已割接，待收尾", "cut over — awaiting finalize"),
    "back_list": ("已回退、被拒绝或已回切（原因）", "Rolled back, refused or failed back (why)"),
    "decide_list": ("需要决定", "Needs a decision"),
    "pending_list": ("尚未执行", "Not run yet"),
    "why_group": ("同一迁移组的其他系统失败，随之回退",
                  "another system of its move group failed, so it was undone with it"),
    "why_interrupted": ("运行被中断（Ctrl-C 或停止信号），回退了正在迁移的系统；无步骤失败",
                        "its run was interrupted (Ctrl-C or a stop signal) and rolled back "
                        "what it was moving; no step failed"),
    "why_undone": ("同一迁移组的其他系统失败，或由 `wave rollback` 回退",
                   "another system of its move group failed, or `wave rollback` undid it"),
    "why_operator": ("由操作员执行 `wave rollback` 回退（{at}，{who}），无步骤失败",
                     "rolled back by the operator's `wave rollback` ({at}, {who}); no step "
                     "failed"),
    "finalize_refused": ("暂不能收尾：`shangyun wave finalize {n}` 会拒绝 {names}——仅迁移了磁盘"
                         "（`plan/cutover.yaml` 未列出，未做任何切换，其源端仍在生产）。请将其"
                         "列入 `plan/cutover.yaml` 并再次执行 "
                         "`shangyun wave run {n}{again}` 完成割接，"
                         "或将其移出本批次（重新规划）；之后在浸泡期结束后执行 "
                         "`shangyun wave finalize {n}`",
                         "Not ready to finalize: `shangyun wave finalize {n}` would refuse "
                         "{names}, moved disks-only (`plan/cutover.yaml` does not list it, "
                         "nothing of it was switched: its source is still production). List "
                         "it in `plan/cutover.yaml` and run "
                         "`shangyun wave run {n}{again}` again to cut it over, or take it "
                         "out of the wave (re-plan); then "
                         "`shangyun wave finalize {n}` after the soak period"),
    "finalize_refused_classified": (
        "暂不能收尾：`shangyun wave finalize {n}` 会拒绝 {names}——台账现标为涉密，"
        "涉密系统永不上云。请将其迁回：{home}；然后重新规划（`shangyun plan`）。"
        "若涉密标记有误，请更正台账的“是否涉密”并重新导入",
        "Not ready to finalize: `shangyun wave finalize {n}` would refuse {names}: "
        "classified (涉密) in the estate, and a classified system never moves to the cloud. "
        "Bring it home: {home}; then re-plan (`shangyun plan`). If the 涉密 mark is wrong, "
        "correct 是否涉密 in the ledger and import it again"),
    "finalize_refused_unmoved": (
        "暂不能收尾：`shangyun wave finalize {n}` 会拒绝 {names}——台账现为其列出割接时未迁移的"
        "主机（割接后新导入？）；已割接的系统再次执行时不会被处理，该主机永远不会迁移。请整体"
        "迁移：{home}；若该主机不属于此系统，请更正台账并重新导入",
        "Not ready to finalize: `shangyun wave finalize {n}` would refuse {names}: the "
        "estate gives it a host its cutover never moved (added to the ledgers since?), and a "
        "run leaves a cut-over system alone, so that host would never move. Move it whole: "
        "{home}; or, if it is not that system's host, correct the ledger and import it again"),
    "pending_finalize": ("待收尾：浸泡期结束后执行 `shangyun wave finalize {n}`；在此之前源端"
                         "保留，可回切 `shangyun wave rollback {n} --fail-back`",
                         "Pending: `shangyun wave finalize {n}` after the soak period; until "
                         "then the source is kept and `shangyun wave rollback {n} --fail-back` "
                         "can carry it home"),
    "why_failed_back": ("由 `wave rollback --fail-back` 连同生产写入一起迁回源端；"
                        "排除原因后再次迁移："
                        "`shangyun wave run {n} --only {sid}{again}`（目标端副本先补齐），"
                        "或清除目标端副本：`shangyun wave rollback {n} --system {sid}`",
                        "carried home with its production writes by "
                        "`wave rollback --fail-back`; to move it again once the cause is "
                        "fixed: `shangyun wave run {n} --only {sid}{again}` (the target's "
                        "copies are brought level first), or to clear them from the "
                        "target: `shangyun wave rollback {n} --system {sid}`"),
    "decide_rerun": ("排除原因后重新执行：`shangyun wave run {n} --only {sid}{again}`",
                     "fix the cause, then run it again: "
                     "`shangyun wave run {n} --only {sid}{again}`"),
    "decide_undo_failed": ("回退未完成（{keys}）：请人工清理后执行 "
                           "`shangyun wave rollback {n} --system {sid}`",
                           "the rollback did not finish ({keys}): clean up by hand, then "
                           "`shangyun wave rollback {n} --system {sid}`"),
    "decide_resume": ("续跑 `shangyun wave resume {n}` 或回退 "
                      "`shangyun wave rollback {n} --system {sid}`",
                      "resume (`shangyun wave resume {n}`) or roll back "
                      "(`shangyun wave rollback {n} --system {sid}`)"),
    "rollback_line": ("{undone}/{steps} 个步骤已撤销（{kinds}）", "{undone} of {steps} steps "
                      "undone ({kinds})"),
    "undo_took": ("撤销耗时 {d}", "undo took {d}"),
    "rollbacks": ("回退", "Rollbacks"),
    "legend_rollback": ("回退（撤销）", "rollback (undo)"),
    "legend_failed": ("失败的步骤", "failed step"),
    "legend_undone": ("已撤销的步骤", "undone step"),
    "failed_steps": ("失败的步骤", "Failed steps"),
    "export_line": ("仪表盘", "Dashboard"),
    "criticality_low": ("低", "low"),
    "criticality_medium": ("中", "medium"),
    "criticality_high": ("高", "high"),
    "criticality_critical": ("核心", "critical"),
    "readiness_ready": ("就绪", "ready"),
    "readiness_conditional": ("有条件就绪", "conditional"),
    "readiness_not ready": ("不可迁移", "not ready"),
    "freeze_domains": ("关闭虚拟机 {names}", "shut down {names}"),
    "freeze_dbs": ("数据库只读 {names}", "databases read-only: {names}"),
    # a failed step's common causes (FAILURE_CLASSES), said before the tool's own text
    "fail_no_space": ("磁盘空间不足：请释放暂存区或目标端的空间后重新执行。",
                      "No space left: free space in the staging area or on the target, then "
                      "run again."),
    "fail_host_key": ("主机密钥未知或已变更，连接已被拒绝：请线下核实该主机的密钥后再更新 "
                      "known_hosts。",
                      "Host key unknown or changed, the connection was refused: check the "
                      "host's key out of band before updating known_hosts."),
    "fail_checksum": ("校验不一致：到达的数据与源端不同（摘要、校验和或行数不符），结果未被采用。",
                      "Verification mismatch: what arrived differs from the source (digest, "
                      "checksum or row count); it was not used."),
    "fail_auth": ("认证失败：用户名、密钥、密码或访问凭据被拒绝，请核对凭据及其权限。",
                  "Authentication refused: the user, key, password or access key was not "
                  "accepted; check the credentials and their rights."),
    "fail_timeout": ("超时：对方在限定时间内没有应答或操作没有完成，请检查网络与对方负载后重试。",
                     "Timed out: no answer, or the operation did not finish in time; check the "
                     "network and the other side's load, then retry."),
    "fail_unreachable": ("无法连接：连接被拒绝、无路由或名称无法解析，请检查地址、端口、网络及服务"
                         "是否在运行。",
                         "Could not connect: refused, no route or an unknown name; check the "
                         "address, the port, the network path and that the service runs."),
    "raw_error": ("原始错误：", "Raw error: "),
}


STEP_TITLES: dict[str, tuple[str, str]] = {
    # a step's title in the runbook (the engine's own title is English, for logs and Prefect)
    "precheck": ("预检查 {name}", "pre-check {name}"),
    "convert": ("转换 {src}（{fmt}）→ {to}", "convert {src} ({fmt}) → {to}"),
    "adapt": ("适配 {host} 的虚拟机系统（{mode}：virtio 驱动、UUID、移除虚拟化工具、保留网络）",
              "adapt the guest of {host} ({mode}: virtio, UUIDs, tools, network)"),
    "upload": ("上传 {file} → s3://{bucket}/{key}", "upload {file} → s3://{bucket}/{key}"),
    "import": ("将 s3://{bucket}/{key} 导入 {target}，卷 {volume}",
               "import s3://{bucket}/{key} into {target} as {volume}"),
    "launch": ("在 {target} 上隔离测试启动 {host}，实例 {name}",
               "test-launch {host} on {target} as {name} (isolated)"),
    "copy": ("初始复制 {kind} {item}", "initial copy of {kind} {item}"),
    "freeze": ("冻结 {name}：{what}", "freeze {name}: {what}"),
    "delta": ("最终增量同步 {kind} {item}", "final delta of {kind} {item}"),
    "verify": ("校验 {n} 项数据", "verify {n} item(s)"),
    "start": ("在生产环境启动目标：{hosts}", "start the target in production: {hosts}"),
    "dns": ("切换 {zone} 中的 DNS 记录", "switch DNS in {zone}"),
    "health": ("{n} 项健康检查", "{n} health check(s)"),
    "cutover": ("标记 {name} 已割接", "mark {name} cut over"),
}
"""A step's title per kind, with ``str.format`` fields from its args (see
:func:`shangyun.runbook.context.step_title`)."""

REASONS: tuple[tuple[str, str, str], ...] = (
    # the assessment's readiness reasons (stored in English in assessment/systems.csv):
    # (regex over the stored text, zh, en) — groups become {0}, {1} …
    (r"physical server: needs a P2V conversion", "物理服务器：需要 P2V 转换",
     "physical server: needs a P2V conversion"),
    (r"OS unknown: discover the host before moving it", "操作系统未知：迁移前请先发现该主机",
     "OS unknown: discover the host before moving it"),
    (r"OS (.+) is not in the support matrix: check with the cloud",
     "操作系统 {0} 不在支持列表中：请与云平台确认",
     "OS {0} is not in the support matrix: check with the cloud"),
    (r"OS (.+) \((.+)\) cannot run on the target cloud", "操作系统 {0}（{1}）无法在目标云上运行",
     "OS {0} ({1}) cannot run on the target cloud"),
    (r"(\S+) version unknown \(the target needs ≥ (.+)\)", "{0} 版本未知（目标云要求 ≥ {1}）",
     "{0} version unknown (the target needs ≥ {1})"),
    (r"(\S+) (\S+) is older than the supported (.+)", "{0} {1} 低于支持的版本 {2}",
     "{0} {1} is older than the supported {2}"),
    (r"UEFI boot is not supported for (\S+) on the target: convert to BIOS",
     "目标云不支持 {0} 的 UEFI 启动：请转换为 BIOS 启动",
     "UEFI boot is not supported for {0} on the target: convert to BIOS"),
    (r"CPU architecture unknown", "CPU 架构未知", "CPU architecture unknown"),
    (r"CPU architecture (\S+) is not offered by the target cloud", "目标云不提供 CPU 架构 {0}",
     "CPU architecture {0} is not offered by the target cloud"),
    (r"CPU architecture (\S+) is not in the support matrix", "CPU 架构 {0} 不在支持列表中",
     "CPU architecture {0} is not in the support matrix"),
    (r"system disk (\S+) GB exceeds the import limit (.*)", "系统盘 {0} GB 超过导入上限 {1}",
     "system disk {0} GB exceeds the import limit {1}"),
    (r"(\d+) data disk\(s\) exceed (\S+) GB: (.*)", "{0} 块数据盘超过 {1} GB：{2}",
     "{0} data disk(s) exceed {1} GB: {2}"),
    (r"(\d+) disks exceed the (\d+) a VM may have", "{0} 块磁盘超过单台虚拟机上限 {1} 块",
     "{0} disks exceed the {1} a VM may have"),
    (r"supported OS, architecture and disks", "操作系统、架构和磁盘均受支持",
     "supported OS, architecture and disks"),
    (r"all hosts ready", "所有主机均已就绪", "all hosts ready"),
    (r"needs (\d+) vCPU / (\d+) GB: larger than any flavour, plan a dedicated host",
     "需要 {0} vCPU / {1} GB：超过所有云主机规格，请规划专属主机",
     "needs {0} vCPU / {1} GB: larger than any flavour, plan a dedicated host"),
    (r"classified \(涉密\) system: never moves to the cloud", "涉密系统：永不上云",
     "classified (涉密) system: never moves to the cloud"),
)


FAILURE_CLASSES: tuple[tuple[str, str], ...] = (
    # (class, regex over a journaled error text, case-insensitive), first match wins: the
    # message ``fail_<class>`` leads the raw text in the runbook. Order matters: a refused
    # host key is not an auth failure, a digest that differs after a retry is no timeout.
    ("no_space", r"no space left|ENOSPC|EDQUOT|disk (?:is )?full|not enough (?:free )?space|"
                 r"quota exceeded|staging (?:area )?(?:is )?full"),
    ("host_key", r"host key|known_hosts|remote host identification"),
    ("checksum", r"checksums? differ|digest \S+ differs|content differs|table\(s\) differ|"
                 r"differs from the source|has digest .*, expected|downloaded as .*, "
                 r"uploaded as|downloaded bytes have digest|checksum mismatch|digest mismatch|"
                 r"BadDigest|does not match its hash"),
    ("auth", r"authentication (?:refused|failed)|access denied|permission denied \(publickey|"
             r"InvalidAccessKeyId|SignatureDoesNotMatch|no credentials|not authori[sz]ed"),
    ("timeout", r"timed out|time-?out|did not finish within|did not complete in time|"
                r"no SSH banner|deadline exceeded"),
    ("unreachable", r"connection refused|unreachable|no route to host|could not connect|"
                    r"name or service not known|temporary failure in name resolution|"
                    r"could not translate host name|network error|not reachable|"
                    r"connection reset|could not open a channel"),
)
"""The common causes of a failed step, recognised in its journaled error text (the
connectors' messages are English)."""


def failure_class(text: str) -> str | None:
    """The :data:`FAILURE_CLASSES` class of an error text, or ``None`` (no common cause)."""
    for name, pattern in FAILURE_CLASSES:
        if re.search(pattern, str(text), re.IGNORECASE):
            return name
    return None


def failure_text(t: Callable[..., str], text: str) -> str:
    """A failed step's error for a reader: the catalogue's sentence for its common cause
    (:func:`failure_class`) in ``t``'s language, then the tool's own text kept verbatim
    as evidence; only the text when the cause is none of the common ones."""
    cls = failure_class(text)
    if cls is None:
        return str(text)
    lead = t("fail_" + cls)
    sep = "" if lead.endswith("。") else " "  # no space after a full-width full stop
    return f"{lead}{sep}{t('raw_error')}{text}"


def reason_text(lang: str, text: str) -> str:
    """An assessment reason (as stored, English) in ``lang``: each ``; ``-separated part
    that matches :data:`REASONS` is translated, keeping any ``host (id): `` prefix; a part
    that matches none is kept as stored."""
    idx = LANGS.index(lang) + 1
    out = []
    for part in str(text).split("; "):
        head, _, rest = part.rpartition("): ")
        prefix, body = (head + "): ", rest) if head else ("", part)
        for pattern, *texts in REASONS:
            m = re.fullmatch(pattern, body.strip())
            if m:
                body = texts[idx - 1].format(*m.groups())
                break
        out.append(prefix + body)
    return ("；" if lang == "zh" else "; ").join(out)


COMMAND_SPAN = re.compile(r"`(shangyun [^`]*)`")
"""A command a document suggests: a code span that starts with ``shangyun``."""


def with_estate(text: str, where: str) -> str:
    """``text`` with ``where`` (`` --estate DIR``) ending every command it suggests
    (:data:`COMMAND_SPAN`) that has no ``--estate`` yet: a document is read away from the
    shell that made it, so its commands must work as printed wherever the estate is."""
    if not where:
        return text
    return COMMAND_SPAN.sub(lambda m: m.group(0) if " --estate " in m.group(1)
                            else f"`{m.group(1)}{where}`", text)


def translator(lang: str, where: str = "") -> Callable[..., str]:
    """The ``t(key, **fields)`` function of ``lang`` (``zh`` or ``en``); ``where``
    (`` --estate DIR``) ends every command its texts suggest (:func:`with_estate`)."""
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: choose one of {', '.join(LANGS)}")
    idx = LANGS.index(lang)

    def t(msg_id: str, /, **fields: object) -> str:
        text = MESSAGES[msg_id][idx]
        return with_estate(text.format(**fields) if fields else text, where)

    return t


def state_label(lang: str, state: str) -> str:
    """A run/system/step state in ``lang`` (the raw state when the catalogue lacks it)."""
    pair = MESSAGES.get(f"state_{state}")
    return pair[LANGS.index(lang)] if pair else state


__all__ = ["FAILURE_CLASSES", "LANGS", "MESSAGES", "REASONS", "STEP_TITLES", "failure_class",
           "failure_text", "reason_text", "state_label", "translator"]
