"""Word lists for the sample estate: regions, business domains, people, software.

Kept as plain data so the generator stays readable; every list is ordered, so the same seed
always picks the same words.
"""

from __future__ import annotations

# (region, hostname code, city for landline area code)
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("北京", "bj", "010"), ("天津", "tj", "022"), ("河北", "he", "0311"), ("山西", "sx", "0351"),
    ("内蒙古", "nm", "0471"), ("辽宁", "ln", "024"), ("大连", "dl", "0411"),
    ("吉林", "jl", "0431"), ("黑龙江", "hl", "0451"), ("上海", "sh", "021"),
    ("江苏", "js", "025"), ("浙江", "zj", "0571"), ("宁波", "nb", "0574"),
    ("安徽", "ah", "0551"), ("福建", "fj", "0591"), ("厦门", "xm", "0592"),
    ("江西", "jx", "0791"), ("山东", "sd", "0531"), ("青岛", "qd", "0532"),
    ("河南", "ha", "0371"), ("湖北", "hb", "027"), ("湖南", "hn", "0731"),
    ("广东", "gd", "020"), ("深圳", "sz", "0755"), ("广西", "gx", "0771"),
    ("海南", "hi", "0898"), ("重庆", "cq", "023"), ("四川", "sc", "028"),
    ("贵州", "gz", "0851"), ("云南", "yn", "0871"), ("西藏", "xz", "0891"),
    ("陕西", "sn", "029"), ("甘肃", "gs", "0931"), ("青海", "qh", "0971"),
    ("宁夏", "nx", "0951"), ("新疆", "xj", "0991"),
)

# Shared services at headquarters: (name, hostname code, port, service, dependency type)
SHARED_SERVICES: tuple[tuple[str, str, int, str, str], ...] = (
    ("统一身份认证平台", "auth", 8443, "https", "sync"),
    ("API网关", "apigw", 443, "https", "sync"),
    ("消息总线", "bus", 9092, "kafka", "async"),
    ("数据共享交换平台", "dex", 22, "sftp", "file"),
    ("统一门户", "portal", 443, "https", "sync"),
    ("电子证照库", "license", 8080, "http", "sync"),
    ("短信服务平台", "sms", 8080, "http", "async"),
)

# Business domains: (Chinese name, hostname code). National systems live at headquarters,
# local ones at a bureau (their name is prefixed with the bureau's region).
DOMAINS: tuple[tuple[str, str], ...] = (
    ("行政审批", "xzsp"), ("电子公文", "dzgw"), ("财务核算", "cwhs"), ("人事管理", "rsgl"),
    ("档案管理", "dagl"), ("统计分析", "tjfx"), ("执法办案", "zfba"), ("监督检查", "jdjc"),
    ("信访管理", "xfgl"), ("应急指挥", "yjzh"), ("视频会议", "sphy"), ("政务公开", "zwgk"),
    ("资产管理", "zcgl"), ("纪检监察", "jjjc"), ("综合办公", "zhbg"), ("业务监管", "ywjg"),
    ("风险预警", "fxyj"), ("信用信息", "xyxx"), ("许可证管理", "xkz"), ("舆情监测", "yqjc"),
    ("党建管理", "djgl"), ("培训考试", "pxks"), ("采购管理", "cggl"), ("合同管理", "htgl"),
    ("项目管理", "xmgl"), ("科技管理", "kjgl"), ("质量检验", "zljy"), ("实验室信息", "lims"),
    ("物资仓储", "wzcc"), ("车辆管理", "clgl"), ("后勤服务", "hqfw"), ("网站群", "web"),
    ("数据仓库", "dw"), ("运维监控", "ywjk"), ("日志审计", "rzsj"), ("邮件", "mail"),
    ("移动办公", "ydbg"), ("知识库", "zsk"), ("绩效考核", "jxkh"), ("投诉举报", "tsjb"),
    ("行政处罚", "xzcf"), ("电子档案", "dzda"), ("12345热线", "rx"), ("数据治理", "sjzl"),
    ("标准管理", "bzgl"), ("印章管理", "yzgl"), ("会议管理", "hygl"), ("督查督办", "dcdb"),
)
SUFFIXES: tuple[str, ...] = ("系统", "平台", "管理系统", "服务平台", "信息系统")
PHASES: tuple[str, ...] = ("", "（二期）", "（三期）", "（新版）", "（升级版）")

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉波宁建国红梅志斌飞玲燕"
    "凯浩然婷雪琳晨欣宇航博文俊峰海鑫"
)

# (os, version, arch, weight)
OSES: tuple[tuple[str, str, str, float], ...] = (
    ("CentOS", "7.9", "x86_64", 30), ("CentOS", "7.6", "x86_64", 10),
    ("CentOS", "6.10", "x86_64", 6), ("Red Hat Enterprise Linux", "7.6", "x86_64", 8),
    ("Red Hat Enterprise Linux", "8.4", "x86_64", 4), ("SUSE Linux Enterprise Server", "12 SP3",
                                                       "x86_64", 3),
    ("Kylin", "V10 SP2", "x86_64", 8), ("Kylin", "V10 SP2", "aarch64", 4),
    ("UOS", "20", "x86_64", 4), ("Ubuntu", "18.04", "x86_64", 3),
    ("Windows Server", "2012 R2", "x86_64", 8), ("Windows Server", "2016", "x86_64", 7),
    ("Windows Server", "2008 R2", "x86_64", 2), ("Oracle Linux", "7.9", "x86_64", 3),
)

# (engine, versions, port, weight)
ENGINES: tuple[tuple[str, tuple[str, ...], int, float], ...] = (
    ("oracle", ("11.2.0.4", "12.2.0.1", "19c"), 1521, 25),
    ("mysql", ("5.6", "5.7", "8.0"), 3306, 22),
    ("postgresql", ("9.6", "12", "14"), 5432, 12),
    ("mariadb", ("10.3", "10.6"), 3306, 8),
    ("dm", ("DM8", "DM7"), 5236, 12),
    ("kingbase", ("V8R6", "V8R3"), 54321, 8),
    ("sqlserver", ("2012", "2016"), 1433, 8),
    ("gbase", ("8a", "8s"), 5258, 3),
)

SHARED_DATABASES: tuple[tuple[str, str], ...] = (
    ("统一人员库", "rydb"), ("基础数据库", "jcsj"), ("主数据库", "mdm"), ("业务协同库", "ywxt"),
)

BLACKOUT_DATES: tuple[str, ...] = (
    "2027-01-01", "2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08", "2027-03-05",
    "2027-03-06", "2027-04-05", "2027-05-01", "2027-05-02", "2027-06-09", "2027-07-01",
    "2027-09-15", "2027-10-01", "2027-10-02", "2027-10-03", "2027-12-31",
)
