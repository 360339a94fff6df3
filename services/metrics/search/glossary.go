package search

// glossary maps Chinese place names and organisation words onto the
// English words the registry's names use. It covers the regions of the
// ecosystem (Binhai, Tianjin, Beijing, Hebei and their districts and
// cities), the universities and institutes of the demo data and the
// common words of organisation names; a query word it does not cover is
// searched as written only.
var glossary = map[string]string{
	// Places.
	"天津": "tianjin", "滨海": "binhai", "滨海新区": "binhai", "北京": "beijing", "河北": "hebei",
	"临港": "lingang", "东疆": "dongjiang", "泰达": "teda", "中关村": "zhongguancun", "亦庄": "yizhuang",
	"廊坊": "langfang", "保定": "baoding", "唐山": "tangshan", "沧州": "cangzhou", "石家庄": "shijiazhuang",
	"中国": "china", "南开": "nankai", "海河": "haihe", "鲲鹏": "kunpeng", "清华": "tsinghua", "北大": "peking",
	// Institutions.
	"大学": "university", "学院": "college", "研究院": "research institute", "研究所": "institute",
	"研究": "research", "实验室": "laboratory", "孵化器": "incubator", "中心": "center",
	"有限公司": "co ltd", "公司": "co", "集团": "group", "股份": "co", "联盟": "alliance",
	"共同体": "consortium", "产教融合": "industry education", "计划": "plan", "人才": "talent",
	// Subjects and industries.
	"科技": "science technology", "科学": "science", "技术": "technology", "理工": "technology",
	"工业": "technology", "工程": "engineering", "民航": "civil aviation", "航空": "aviation",
	"航天": "aerospace", "医科": "medical", "医学": "medical", "医药": "pharmaceutical", "医疗": "medical",
	"生物": "bio", "生物医药": "biomedicine", "师范": "normal", "财经": "finance economics",
	"外国语": "foreign studies", "商业": "commerce", "职业": "vocational", "能源": "energy",
	"新能源": "new energy", "新材料": "new materials", "材料": "materials", "海洋": "marine",
	"信息": "information", "信创": "information innovation", "智能": "intelligent", "数字": "digital",
	"经济": "economy", "数字经济": "digital economy", "软件": "software", "芯片": "chip",
	"半导体": "semiconductor", "集成电路": "integrated circuit", "人工智能": "artificial intelligence",
	"机器人": "robotics", "装备": "equipment", "高端装备": "high end equipment", "制造": "manufacturing",
	"金融": "financial", "租赁": "leasing", "融资租赁": "financial leasing", "物流": "logistics",
	"港口": "port", "氢能": "hydrogen energy", "储能": "energy storage", "网络安全": "cybersecurity",
	"深海": "deep sea", "细胞": "cell", "基因": "gene", "脑科学": "brain science",
}

// maxGlossaryRunes is the longest glossary entry, in characters.
var maxGlossaryRunes = func() int {
	n := 0
	for k := range glossary {
		n = max(n, len([]rune(k)))
	}
	return n
}()
